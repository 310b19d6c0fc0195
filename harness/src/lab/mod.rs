//! Lab lifecycle: clone → boot → wait for SSH, status, teardown. Main types: [`Lab`],
//! [`LabState`], [`LabEvent`].

mod imp;
pub mod port;

pub use imp::*;
