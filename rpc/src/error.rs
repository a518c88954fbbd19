//! JSON-RPC errors: one enum, one code per kind, a message that says what was wrong.

use serde_json::{Value, json};

use crate::backend::BackendError;

/// A JSON-RPC 2.0 error. Each kind maps to one code; the text says what was
/// wrong in terms the client can act on. Sent with HTTP 200, as CometBFT does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The body is not JSON (-32700).
    #[error("{0}")]
    Parse(String),
    /// The JSON is not a JSON-RPC 2.0 request, or a batch is empty or too large (-32600).
    #[error("{0}")]
    InvalidRequest(String),
    /// No such method (-32601).
    #[error("method {0:?} not found")]
    MethodNotFound(String),
    /// A parameter is missing, of the wrong type or out of range (-32602).
    #[error("{0}")]
    InvalidParams(String),
    /// The node failed or timed out (-32603).
    #[error("{0}")]
    Internal(String),
}

impl RpcError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i64 {
        match self {
            RpcError::Parse(_) => -32700,
            RpcError::InvalidRequest(_) => -32600,
            RpcError::MethodNotFound(_) => -32601,
            RpcError::InvalidParams(_) => -32602,
            RpcError::Internal(_) => -32603,
        }
    }

    /// The standard JSON-RPC name of the code.
    pub fn kind(&self) -> &'static str {
        match self {
            RpcError::Parse(_) => "Parse error",
            RpcError::InvalidRequest(_) => "Invalid Request",
            RpcError::MethodNotFound(_) => "Method not found",
            RpcError::InvalidParams(_) => "Invalid params",
            RpcError::Internal(_) => "Internal error",
        }
    }

    /// The `error` object: `message` is the standard name followed by what was
    /// wrong; `data` is what was wrong alone (where CometBFT puts it).
    pub fn to_json(&self) -> Value {
        let detail = self.to_string();
        json!({
            "code": self.code(),
            "message": format!("{}: {}", self.kind(), detail),
            "data": detail,
        })
    }

    /// Shorthand for [`RpcError::InvalidParams`].
    pub fn params(msg: impl Into<String>) -> RpcError {
        RpcError::InvalidParams(msg.into())
    }
}

impl From<BackendError> for RpcError {
    fn from(e: BackendError) -> Self {
        if e.is_client_error() {
            RpcError::InvalidParams(e.to_string())
        } else {
            tracing::warn!(error = %e, "rpc backend failed");
            RpcError::Internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let e = RpcError::params(
            "height 99 must be less than or equal to the current blockchain height 42",
        );
        let j = e.to_json();
        assert_eq!(j["code"], -32602);
        assert_eq!(
            j["message"],
            "Invalid params: height 99 must be less than or equal to the current blockchain height 42"
        );
        assert_eq!(RpcError::MethodNotFound("x".into()).code(), -32601);
        let internal: RpcError = BackendError::Internal {
            reason: "disk".into(),
        }
        .into();
        assert_eq!(internal.code(), -32603);
        let pruned: RpcError = BackendError::Unavailable {
            what: "block 3".into(),
        }
        .into();
        assert_eq!(pruned.code(), -32602);
    }
}
