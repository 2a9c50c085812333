//! Known answers of the DH-HMAC-CHAP computations (spec-notes/auth.md §5): the key transform against nvme-cli 2.3's
//! `gen-dhchap-key` (libnvme with OpenSSL), R1, R2 and the augmented challenge against values computed with
//! Python's `hmac` and re-checked with the OpenSSL 3.0 command line, the RFC 7919 primes against the SHA-256 of
//! Linux's, and Diffie-Hellman against Python's `pow`.

use nvme_fabric::auth::{
    DhError, DhGroup, DhKeyPair, Digest, HashAlg, MAX_VALUE_LEN, PRIVATE_KEY_RANDOM_LEN, PeerCheck, Transaction,
    session_key, transform_key,
};
use nvme_proto::auth::{DhGroupId, DhchapSecret, SecretTransform, SecureChannel};

fn hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

const SPEC_SECRET: &str = "89aeb31a874eaf84841b46736b0dfdf2ba58d30aa2a545a3e235a3521e07594c";
const NQN_H: &str = "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555";
const NQN_C: &str = "nqn.2024-01.io.example:sub1";

fn secret(transform: SecretTransform, bytes: &[u8]) -> DhchapSecret {
    DhchapSecret::new(transform, bytes).expect("a secret")
}

fn tx(hash: HashAlg) -> Transaction<'static> {
    Transaction { hash, t_id: 1, sc_c: SecureChannel::NONE, host_nqn: NQN_H, subsys_nqn: NQN_C }
}

/// nvme-cli 2.3 `gen-dhchap-key --secret=S --hmac=N --nqn=NQN_H` prints HMAC(S, NQN || "NVMe-over-Fabrics") as
/// the key of a DHHC-1 text (nvme_proto::notes::vectors §6.2): our transform of S gives exactly that payload.
#[test]
fn transform_matches_nvme_cli() {
    let cases = [
        (SecretTransform::SHA_256, hex(SPEC_SECRET), "DHHC-1:01:XgAN1+Pe73rL3lqxBEqHJ7VR3UxqHp0jjEYp83ItJjelb1t/:"),
        (
            SecretTransform::SHA_384,
            (0..48).collect(),
            "DHHC-1:02:JzgkyQ7IBRNgZgoVJQTRqDZ62Hnj5/kZ+vrrqjiE4TzoZZv5ycVS5cOLCiZ1bQfVVxJqow==:",
        ),
        (
            SecretTransform::SHA_512,
            (100..164).collect(),
            "DHHC-1:03:dBQ3FCKaxRfO4HzC0dPkFw8kEmShHdXuPdht+ymObAtj8RkgGvitD0kHQ/sW9bNPF6xB6KMELsiTrd+9OVHLkNx2e3k=:",
        ),
    ];
    for (transform, bytes, nvme_cli) in cases {
        let key = transform_key(&secret(transform, &bytes), NQN_H);
        assert_eq!(key.as_bytes(), DhchapSecret::parse(nvme_cli).unwrap().secret(), "transform {transform:?}");
    }
}

#[test]
fn transform_none_is_the_secret_and_any_length_mixes_with_any_hash() {
    let s = hex(SPEC_SECRET);
    assert_eq!(transform_key(&secret(SecretTransform::NONE, &s), NQN_H).as_bytes(), &s[..]);
    // A 32-byte secret under SHA-512 gives a 64-byte key (Linux >= 6.7).
    assert_eq!(transform_key(&secret(SecretTransform::SHA_512, &s), NQN_H).len(), 64);
    assert_eq!(transform_key(&secret(SecretTransform::SHA_256, &[7; 64]), NQN_H).len(), 32);
}

#[test]
fn host_and_controller_responses_null_group() {
    let s = secret(SecretTransform::SHA_256, &hex(SPEC_SECRET));
    let kh = transform_key(&s, NQN_H);
    assert_eq!(kh.as_bytes(), hex("5e000dd7e3deef7acbde5ab1044a8727b551dd4c6a1e9d238c4629f3722d2637"));
    let c1: Vec<u8> = (0..32).collect();
    let t = tx(HashAlg::Sha256);
    let r1 = t.host_response(&kh, &t.augmented_challenge(None, &c1), 0x0102_0304);
    assert_eq!(r1.as_bytes(), hex("4b965d0206a23ebaca7a05190a2cabf157bab89f25c267d703e9a7430ad93e79"));
    let kc = transform_key(&s, NQN_C);
    assert_eq!(kc.as_bytes(), hex("5d838536db7a3090831eb0e17e010a79add247607b0594d5b575692c9c8b33c2"));
    let c2: Vec<u8> = (0..32).map(|i| 0xFF - i).collect();
    let r2 = t.controller_response(&kc, &t.augmented_challenge(None, &c2), 0x0a0b_0c0d);
    assert_eq!(r2.as_bytes(), hex("0f6ae2d0087b13d3991c75e0e6639d255d62c2e915de3f6ce6e33181893e52e2"));
    assert!(r1.ct_eq(&hex("4b965d0206a23ebaca7a05190a2cabf157bab89f25c267d703e9a7430ad93e79")));
    assert!(!r1.ct_eq(r2.as_bytes()));
}

/// The toy ffdhe2048 exchange of spec-notes/auth.md §5 (x = 2, y = 3; insecure, for the padding rule): Z = 2^6 as
/// 255 zero bytes and 0x40, hashed padded.
#[test]
fn toy_ffdhe2048_session_key_and_augmented_challenge() {
    let mut rx = [0u8; PRIVATE_KEY_RANDOM_LEN];
    rx[31] = 2; // the first 32 bytes are ffdhe2048's private exponent, big-endian
    let mut ry = [0u8; PRIVATE_KEY_RANDOM_LEN];
    ry[31] = 3;
    let x = DhKeyPair::new(DhGroup::Ffdhe2048, &rx).unwrap();
    let y = DhKeyPair::new(DhGroup::Ffdhe2048, &ry).unwrap();
    assert_eq!(x.public_value().len(), 256);
    assert_eq!((x.public_value()[255], y.public_value()[255]), (4, 8));
    assert!(x.public_value()[..255].iter().all(|&b| b == 0), "left-padded to the size of p");
    let z = x.shared_secret(y.public_value(), PeerCheck::Range).unwrap();
    let z2 = y.shared_secret(x.public_value(), PeerCheck::Subgroup).unwrap();
    assert_eq!(z.as_bytes(), z2.as_bytes());
    assert_eq!(z.as_bytes()[255], 0x40);
    let ks = session_key(HashAlg::Sha256, &z);
    assert_eq!(ks.as_bytes(), hex("8f8ee882aea48923520fef492f30185d14f22126d6af696bb7bab0e2ec86a725"));
    let t = tx(HashAlg::Sha256);
    let c1: Vec<u8> = (0..32).collect();
    let ca = t.augmented_challenge(Some(&ks), &c1);
    assert_eq!(ca.as_bytes(), hex("575058699823e7447c59daab7be80a1b9d184be8b9753ce3831d947b3370515c"));
    // Linux before Chris Leech's fix keyed the HMAC with Z itself and hashed it there; Z is longer than the HMAC
    // block, so HMAC hashes it anyway: the same bytes on the wire.
    assert!(HashAlg::Sha256.hmac(z.as_bytes(), &[&c1]).ct_eq(ca.as_bytes()));
    let kh = transform_key(&secret(SecretTransform::SHA_256, &hex(SPEC_SECRET)), NQN_H);
    let r1 = t.host_response(&kh, &ca, 0x0102_0304);
    assert_eq!(r1.as_bytes(), hex("a4ca132acd61d03a36319170ff7854291c51cc5d69925ae9313c16506b6e9a39"));
}

/// SHA-256 of each prime's big-endian bytes, equal to Linux's `crypto/dh.c` (spec-notes/auth.md §5); each starts
/// with 64 one bits then RFC 7919's digits of e, and ends with 64 one bits.
#[test]
fn ffdhe_primes_are_rfc_7919s() {
    let want = [
        (DhGroup::Ffdhe2048, "9cd3b7f336872f46c09428d1bbc19877a4d440512cda8d1c1cf0cd6e33698966"),
        (DhGroup::Ffdhe3072, "0eaf67db3a839156d5013494a5318a772b5697d270d721f37f092efc69ea5a17"),
        (DhGroup::Ffdhe4096, "4648414224ac881b3d0dc59b466f96d06a558278776807797ecf1f66ff397b3e"),
        (DhGroup::Ffdhe6144, "227ac9066b3ddd9e193670cda2388fa884f65ba0cf98b742d1fe77a6687c79c7"),
        (DhGroup::Ffdhe8192, "770b14efaf6f049929c523113b3fa99a8d11dab1b18af3609590122075d19833"),
    ];
    for (group, sha) in want {
        let mut buf = [0u8; MAX_VALUE_LEN];
        let p = group.prime(&mut buf);
        assert_eq!(p.len(), group.value_len());
        assert_eq!(HashAlg::Sha256.digest(&[p]).as_bytes(), hex(sha), "{group:?}");
        assert_eq!(&p[..16], hex("ffffffffffffffffadf85458a2bb4a9a"));
        assert_eq!(&p[p.len() - 8..], [0xFF; 8]);
        assert_eq!(DhGroup::from_id(group.id()), Some(group));
        assert_eq!(Some(group.value_len() as u16), group.id().value_len());
    }
    assert_eq!(DhGroup::from_id(DhGroupId::NULL), None);
}

/// g^x, g^y and Z for each group with fixed exponents, against Python's `pow` (SHA-256 of the padded values).
#[test]
fn diffie_hellman_matches_python_pow() {
    let want = [
        (
            DhGroup::Ffdhe2048,
            "ffc461137186f3038edca40d6d5d16413f314de4e5adf7a41667cc1e98d8bde7",
            "8a1d1d6cb3abea440e4a26e7ab2b2e6f10b9f8dad3edb3a2a8233815abdef613",
            "de9c9ba1eb3a267af2e26c8b89db91f73d433b140d6a2a7cc0737cf3b80b8f13",
        ),
        (
            DhGroup::Ffdhe3072,
            "75ed5444a2b83fe03e292fd32eca6450188dba99e4340cc24793fc6f8440d88e",
            "d52eca471876560e4c0b5ae9938a5c37973e1ddc2cca285430cb6ffb0de320fe",
            "3d1e34bc2e7364b156f7bef0581999c06e903bc2b4f56a3939331d25fadf0ed5",
        ),
        (
            DhGroup::Ffdhe4096,
            "0c09358de7dd4f5ea84564c5e11e0f707dedac98eb3510bd81801cd7b31e209e",
            "14c4af89305277b0be3e8f6163f769c164fbea4ebd1f4b3e7bd4ef90c6087b18",
            "018992d96bd5e78ececd23907e0ccd9b20ba564533d76f3bf1c42aee659a7aa7",
        ),
        (
            DhGroup::Ffdhe6144,
            "8ee089af5c045c0512c9617f64ef46d17dfa11cbff573c3c69815a05c0134777",
            "6c4fbee2673296f39b6abc0627bc46e73be85bf359b45ee0701de39e2069246b",
            "79344b952316fa18123ba965b296a3fc9e76e465f9d784119e1c115aa2337fa6",
        ),
        (
            DhGroup::Ffdhe8192,
            "332c0d4704b2deb859577348aa5744ca76ece7786e91a898192c80f73830f0e3",
            "e039483cf2dec1a87f7027618039c7dff5e051d3d786a99c1f50e26f81d03cb0",
            "504fc042a0ed0971f32d783dde6843d33243e93edf18ca24db827ba5b628d80d",
        ),
    ];
    let sha = |b: &[u8]| HashAlg::Sha256.digest(&[b]);
    for (group, gx, gy, z) in want {
        let n = group.private_key_len();
        let mut rx = [0u8; PRIVATE_KEY_RANDOM_LEN];
        let mut ry = [0u8; PRIVATE_KEY_RANDOM_LEN];
        for i in 0..n {
            rx[i] = (0x11 * (i + 1)) as u8;
            ry[i] = (0xA5 + 7 * i) as u8;
        }
        let x = DhKeyPair::new(group, &rx).unwrap();
        let y = DhKeyPair::new(group, &ry).unwrap();
        assert_eq!(sha(x.public_value()).as_bytes(), hex(gx), "{group:?} g^x");
        assert_eq!(sha(y.public_value()).as_bytes(), hex(gy), "{group:?} g^y");
        let zx = x.shared_secret(y.public_value(), PeerCheck::Range).unwrap();
        assert_eq!(sha(zx.as_bytes()).as_bytes(), hex(z), "{group:?} Z");
        let zy = y.shared_secret(x.public_value(), PeerCheck::Range).unwrap();
        assert_eq!(zx.as_bytes(), zy.as_bytes());
    }
}

#[test]
fn bad_peer_values_are_refused() {
    let mut r = [0x5Au8; PRIVATE_KEY_RANDOM_LEN];
    let pair = DhKeyPair::new(DhGroup::Ffdhe2048, &r).unwrap();
    let mut buf = [0u8; MAX_VALUE_LEN];
    let p = DhGroup::Ffdhe2048.prime(&mut buf).to_vec();
    let small = |v: u8| {
        let mut b = vec![0u8; 256];
        b[255] = v;
        b
    };
    let mut p_minus_1 = p.clone();
    p_minus_1[255] -= 1;
    let mut p_minus_2 = p.clone();
    p_minus_2[255] -= 2;
    for bad in [small(0), small(1), p_minus_1.clone(), p.clone(), vec![0xFF; 256]] {
        assert_eq!(pair.shared_secret(&bad, PeerCheck::Range).unwrap_err(), DhError::OutOfRange);
    }
    assert_eq!(
        pair.shared_secret(&[4; 255], PeerCheck::Range).unwrap_err(),
        DhError::WrongLength { expected: 256, found: 255 }
    );
    // p - 2 = -2 is in range but has order 2q: the subgroup check refuses it; 2 (the generator) passes it.
    assert!(pair.shared_secret(&p_minus_2, PeerCheck::Range).is_ok());
    assert_eq!(pair.shared_secret(&p_minus_2, PeerCheck::Subgroup).unwrap_err(), DhError::NotInSubgroup);
    assert!(pair.shared_secret(&small(2), PeerCheck::Subgroup).is_ok());
    // A private exponent of 0 or 1 is refused.
    r = [0; PRIVATE_KEY_RANDOM_LEN];
    assert_eq!(DhKeyPair::new(DhGroup::Ffdhe4096, &r).unwrap_err(), DhError::WeakPrivateKey);
    r[63] = 1;
    assert_eq!(DhKeyPair::new(DhGroup::Ffdhe4096, &r).unwrap_err(), DhError::WeakPrivateKey);
    // Bytes past the group's private key length are not used: ffdhe2048 takes 32.
    r = [0; PRIVATE_KEY_RANDOM_LEN];
    r[40] = 9;
    assert_eq!(DhKeyPair::new(DhGroup::Ffdhe2048, &r).unwrap_err(), DhError::WeakPrivateKey);
}

#[test]
fn digests_never_print_and_compare_by_value() {
    let d = Digest::from_slice(&[1, 2, 3]);
    assert_eq!(format!("{d:?}"), "Digest(3 bytes)");
    assert!(d.ct_eq(&[1, 2, 3]) && !d.ct_eq(&[1, 2, 4]) && !d.ct_eq(&[1, 2]));
}
