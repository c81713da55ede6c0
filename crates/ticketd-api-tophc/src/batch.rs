//! TopHC's BatchOutput: `{success, fail, results:[envelope…]}`, one full envelope per item, in order.

use crate::error::{ApiError, Reply, success};
use serde_json::{Value, json};

/// The results of a batch call, collected item by item.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    results: Vec<Value>,
    success: u64,
    fail: u64,
}

impl Batch {
    /// Records an item that succeeded; `data` echoes its identifiers.
    pub(crate) fn ok(&mut self, data: Value) {
        self.success += 1;
        self.results.push(success(data));
    }

    /// Records an item that failed; `data` still echoes its identifiers.
    pub(crate) fn fail(&mut self, error: &ApiError, data: Value) {
        self.fail += 1;
        self.results.push(error.envelope(data));
    }

    /// The outer envelope: a batch call itself succeeds ("批量操作只返回成功").
    pub(crate) fn reply(self) -> Reply {
        Reply(json!({
            "success": self.success,
            "fail": self.fail,
            "results": self.results,
        }))
    }
}
