//! Key names. Every key of a namespace carries the same hash tag `{NS}` so that the pointer and
//! the sets live in one slot and a MULTI/EXEC over them works unchanged on Redis Cluster.

use crate::error::FxError;

/// Longest namespace accepted (it is part of every key).
pub const MAX_NAMESPACE_LEN: usize = 64;

/// The keys of one namespace: `fx:{NS}:current`, `fx:{NS}:set:VERSION`, `fx:{NS}:published`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    namespace: String,
}

impl Keys {
    /// Keys for `namespace`: 1..=64 characters, none of `{`, `}`, `:` or whitespace (they would
    /// break the hash tag or the key layout).
    pub fn new(namespace: &str) -> Result<Self, FxError> {
        let ok = !namespace.is_empty()
            && namespace.len() <= MAX_NAMESPACE_LEN
            && namespace
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '{' | '}' | ':'));
        if !ok {
            return Err(FxError::Config(format!(
                "namespace {:?}: 1..={MAX_NAMESPACE_LEN} characters without braces, colons or spaces",
                namespace.chars().take(MAX_NAMESPACE_LEN + 1).collect::<String>()
            )));
        }
        Ok(Self {
            namespace: namespace.to_string(),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The pointer: a string key holding the current version.
    pub fn current(&self) -> String {
        format!("fx:{{{}}}:current", self.namespace)
    }

    /// The hash holding one version's pairs and metadata.
    pub fn set(&self, version: &str) -> String {
        format!("fx:{{{}}}:set:{version}", self.namespace)
    }

    /// A SCAN/KEYS glob that matches every key of the namespace and nothing else: the
    /// namespace's glob characters (`*?[]\` and `^`) escaped; braces are literal in a glob.
    pub fn pattern(&self) -> String {
        let mut ns = String::with_capacity(self.namespace.len() * 2);
        for c in self.namespace.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
                ns.push('\\');
            }
            ns.push(c);
        }
        format!("fx:{{{ns}}}:*")
    }

    /// The channel a publication is announced on (a hint: readers also poll).
    pub fn channel(&self) -> String {
        format!("fx:{{{}}}:published", self.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_hash_tag() {
        let k = Keys::new("prod").unwrap();
        assert_eq!(k.current(), "fx:{prod}:current");
        assert_eq!(k.set("v1"), "fx:{prod}:set:v1");
        assert_eq!(k.channel(), "fx:{prod}:published");
        assert_eq!(k.pattern(), "fx:{prod}:*");
        assert_eq!(
            Keys::new("a*b?[c]").unwrap().pattern(),
            r"fx:{a\*b\?\[c\]}:*"
        );
        for bad in ["", "a{b", "a}b", "a b", "a:b", &"x".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?}");
        }
    }
}
