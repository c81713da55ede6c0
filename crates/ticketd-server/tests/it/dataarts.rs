//! dataarts dialect tests, end to end over HTTP.

#[allow(unused_imports)]
use crate::app::spawn_app;
