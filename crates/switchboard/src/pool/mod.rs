//! The pool: its decisions as plain data ([`state`]) and the Manager actor
//! that carries them out.

#[allow(dead_code)]
pub(crate) mod state;
