//! Checks (in progress).
