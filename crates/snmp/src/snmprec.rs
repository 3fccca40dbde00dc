//! The snmprec recording format (to be written).
