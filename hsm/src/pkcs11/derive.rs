//! In-token key derivation by encryption (`CKM_DES3_ECB_ENCRYPT_DATA`, PKCS#11 v2.40 2.17):
//! the derived key's value is TDES(base key, data) and never leaves the token.
//!
//! The `cryptoki` crate has no safe wrapper for this mechanism (its `Mechanism` enum offers
//! only the AES variant, and `MechanismType` cannot be built for other values), so this one
//! call goes through `cryptoki-sys`'s raw function table. It is the crate's only `unsafe`
//! code: a second handle (`dlopen`) on the same module, whose state (initialisation, login,
//! sessions) is the one `cryptoki` set up, because a shared library is loaded once per process.

#![allow(unsafe_code)]

use std::path::Path;

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki_sys::{
    CKM_DES3_ECB_ENCRYPT_DATA, CKR_OK, CK_ATTRIBUTE, CK_KEY_DERIVATION_STRING_DATA, CK_MECHANISM,
    CK_OBJECT_HANDLE, CK_SESSION_HANDLE, CK_ULONG,
};

use crate::error::HsmError;

/// The module's raw entry points, for the derive call only.
pub(crate) struct RawModule {
    lib: cryptoki_sys::Pkcs11,
}

impl RawModule {
    pub(crate) fn load(path: &Path) -> Result<RawModule, HsmError> {
        // SAFETY: loading the same PKCS#11 module `cryptoki` already loaded; libloading keeps it
        // mapped for the life of `lib`, and no initialiser of ours runs.
        let lib = unsafe { cryptoki_sys::Pkcs11::new(path) }.map_err(|e| HsmError::Pkcs11 {
            op: "load module".into(),
            reason: e.to_string(),
        })?;
        if lib.C_DeriveKey.is_err() {
            return Err(HsmError::Pkcs11 {
                op: "load module".into(),
                reason: "the module has no C_DeriveKey".into(),
            });
        }
        Ok(RawModule { lib })
    }

    /// Derives a session (non-token), sensitive, non-extractable double-length DES key whose
    /// value is TDES(base, data), labelled `label`; returns its raw handle.
    pub(crate) fn derive_des2(
        &self,
        session: CK_SESSION_HANDLE,
        base: CK_OBJECT_HANDLE,
        data: &[u8; 16],
        label: &str,
    ) -> Result<CK_OBJECT_HANDLE, HsmError> {
        let mut input = *data;
        let mut params = CK_KEY_DERIVATION_STRING_DATA {
            pData: input.as_mut_ptr(),
            ulLen: input.len() as CK_ULONG,
        };
        let mut mechanism = CK_MECHANISM {
            mechanism: CKM_DES3_ECB_ENCRYPT_DATA,
            pParameter: (&mut params as *mut CK_KEY_DERIVATION_STRING_DATA).cast(),
            ulParameterLen: std::mem::size_of::<CK_KEY_DERIVATION_STRING_DATA>() as CK_ULONG,
        };
        let attributes = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::DES2),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Derive(true),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let mut template: Vec<CK_ATTRIBUTE> = attributes.iter().map(CK_ATTRIBUTE::from).collect();
        let mut handle: CK_OBJECT_HANDLE = 0;
        // SAFETY: every pointer refers to a local that outlives the call (`input`, `params`,
        // `mechanism`, `attributes` through `template`, `handle`); the lengths are those of the
        // pointed-to values; `session` and `base` are handles of this process's module.
        let rv = unsafe {
            self.lib.C_DeriveKey(
                session,
                &mut mechanism,
                base,
                template.as_mut_ptr(),
                template.len() as CK_ULONG,
                &mut handle,
            )
        };
        zeroize::Zeroize::zeroize(&mut input);
        if rv != CKR_OK {
            return Err(HsmError::Pkcs11 {
                op: "derive (CKM_DES3_ECB_ENCRYPT_DATA)".into(),
                reason: match cryptoki::error::Rv::from(rv) {
                    cryptoki::error::Rv::Error(e) => e.to_string(),
                    cryptoki::error::Rv::Ok => "CKR_OK".into(),
                },
            });
        }
        Ok(handle)
    }
}
