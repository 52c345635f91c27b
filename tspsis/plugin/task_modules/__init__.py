"""The pseudo-labeller of every teacher-student head (Ft -> r(Mt) -> cleaning -> targets of Fs)."""
