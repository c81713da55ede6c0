//! A forgiving reader for the request bodies TopHC's documents show, which are not all JSON.
//!
//! The vendor's examples, which clients copy, contain `{ list:[ "…" ] }` (an unquoted key),
//! `{ "ticket_uuid" }` (a member without a value) and a key given twice. Strict JSON is tried
//! first; only a body strict parsing refuses is read here, with these relaxations:
//! - keys may be bare identifiers (`[A-Za-z_$][A-Za-z0-9_$]*`);
//! - a member may be a lone string, read as that key with the value `null`;
//! - a trailing comma is allowed in objects and arrays;
//! - a repeated key keeps its last value (as strict parsing into a map does).
//!
//! Everything else (strings, numbers, literals) follows JSON exactly, and nesting is bounded.

use serde_json::{Map, Value};

/// Parses `text` with the relaxations above; the error says where and what.
pub(crate) fn parse(text: &str, max_depth: usize) -> Result<Value, String> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
        max_depth,
    };
    parser.skip_space();
    let value = parser.value(0)?;
    parser.skip_space();
    if parser.at != parser.bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    max_depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.at)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.at += 1,
                // A UTF-8 byte-order mark, which some editors put before the body.
                Some(0xEF) if self.text[self.at..].starts_with('\u{feff}') => self.at += 3,
                _ => return,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) if b.is_ascii_alphabetic() => match self.identifier().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                "null" => Ok(Value::Null),
                _ => Err(self.error("unexpected word")),
            },
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), String> {
        if depth > self.max_depth {
            Err(format!("nesting deeper than {} levels", self.max_depth))
        } else {
            Ok(())
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, String> {
        self.enter(depth)?;
        self.at += 1;
        let mut map = Map::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(map));
                }
                Some(b'"') => {}
                Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {}
                _ => return Err(self.error("expected a key")),
            }
            let quoted = self.peek() == Some(b'"');
            let key = if quoted {
                self.string()?
            } else {
                self.identifier()
            };
            self.skip_space();
            let value = if self.peek() == Some(b':') {
                self.at += 1;
                self.skip_space();
                self.value(depth)?
            } else if quoted {
                Value::Null
            } else {
                return Err(self.error("expected ':'"));
            };
            map.insert(key, value);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {}
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, String> {
        self.enter(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b']') {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value(depth)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {}
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.at;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                self.at += 1;
            } else {
                break;
            }
        }
        self.text[start..self.at].to_owned()
    }

    /// A JSON string literal, decoded by serde_json once its end is found (multi-byte UTF-8
    /// never contains the bytes of `"` or `\`, so scanning bytes is safe).
    fn string(&mut self) -> Result<String, String> {
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b'\\') if !escaped => escaped = true,
                Some(b'"') if !escaped => break,
                Some(_) => escaped = false,
            }
            self.at += 1;
        }
        self.at += 1;
        serde_json::from_str::<String>(&self.text[start..self.at])
            .map_err(|e| format!("invalid string at byte {start}: {e}"))
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        serde_json::from_str::<serde_json::Number>(&self.text[start..self.at])
            .map(Value::Number)
            .map_err(|e| format!("invalid number at byte {start}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documents_relaxed_bodies_are_read() {
        assert_eq!(
            parse("{\t\n    list:[\n        \"8e45\"\n    ]\n}", 8).unwrap(),
            json!({"list": ["8e45"]})
        );
        assert_eq!(
            parse("{\t\n    \"ticket_uuid\"\n}", 8).unwrap(),
            json!({"ticket_uuid": null})
        );
        assert_eq!(
            parse(r#"{"a":"x","a":"y","l":[1,2,],}"#, 8).unwrap(),
            json!({"a": "y", "l": [1, 2]})
        );
        assert_eq!(
            parse(
                "\u{feff}{\"s\":\"中\\n\",\"n\":-1.5e3,\"t\":true,\"z\":null}",
                8
            )
            .unwrap(),
            json!({"s": "中\n", "n": -1500.0, "t": true, "z": null})
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_position() {
        for bad in [
            "{",
            "{list:}",
            "{\"a\" 1}",
            "[1 2]",
            "{a}",
            "{\"a\":tru}",
            "{\"a\":1} x",
            "{\"a\":\"\\q\"}",
            "{\"a\":01}",
            "'a'",
            "",
        ] {
            assert!(parse(bad, 8).is_err(), "{bad:?} should be refused");
        }
        assert!(parse(&"[".repeat(10), 8).unwrap_err().contains("nesting"));
        assert!(parse(&format!("{}{}", "[".repeat(8), "]".repeat(8)), 8).is_ok());
    }
}
