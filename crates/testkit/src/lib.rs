//! What carekiosk's tests share: real services started for one test.
//!
//! Owns: starting and stopping those services in a private folder. Must not: be a normal dependency of any crate
//! that ships (it is a dev-dependency only), or fake what a user would have (these are the real programs).

pub mod cups;
