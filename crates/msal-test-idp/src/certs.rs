//! Certificates made at run time: the test CA and the IdP's TLS certificate
//! for `127.0.0.1`/`localhost` (ECDSA P-256, by `rcgen` on `ring`), and RSA
//! client certificates for signed client assertions (`rsa` generates the
//! key, since `ring` cannot).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The test CA (PEM) and the server's chain and key for rustls.
pub(crate) struct ServerCerts {
    pub(crate) ca_pem: String,
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

pub(crate) fn server_certs() -> ServerCerts {
    let ca_key = KeyPair::generate().expect("generate CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name.push(DnType::CommonName, "msal-test-idp CA (generated at test time)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).expect("self-sign CA");
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("generate server key");
    let mut leaf =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("leaf params");
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let cert = leaf.signed_by(&key, &issuer).expect("sign server certificate");
    ServerCerts {
        ca_pem: ca_cert.pem(),
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// A fresh 2048-bit RSA key and a self-signed certificate for it, as PEM
/// (`(certificate, private key)`), for a confidential client that
/// authenticates with a certificate.
pub fn client_certificate(subject: &str) -> (String, String) {
    use rsa::pkcs8::EncodePrivateKey;
    let mut rng = rand_core::OsRng;
    let rsa_key = rsa::RsaPrivateKey::new(&mut rng, 2048).expect("generate RSA key");
    let key_pem = rsa_key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).expect("encode RSA key").to_string();
    let key = KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).expect("load RSA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client cert params");
    params.distinguished_name.push(DnType::CommonName, subject);
    let cert = params.self_signed(&key).expect("self-sign client certificate");
    (cert.pem(), key_pem)
}
