package tss

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/internal/durable"
)

// A share file is
//
//	magic "metanode-share-v1\n" | salt (16) | nonce (24) | ciphertext
//
// where the ciphertext is XChaCha20-Poly1305 over the JSON save data,
// keyed by argon2id(passphrase, salt), with the key id as associated data:
// a file renamed to another key's name does not open.
const shareMagic = "metanode-share-v1\n"

// Argon2id cost: 64 MiB and one pass, about 0.1 s per save or load.
const (
	argonTime    = 1
	argonMemory  = 64 << 10 // KiB
	argonThreads = 2
)

// ErrShareLocked: the passphrase is wrong or the file was altered.
var ErrShareLocked = errors.New("wrong passphrase, or the share file was altered")

// ShareStore keeps this node's key shares encrypted at rest.
type ShareStore struct {
	dir        string
	passphrase []byte
}

// OpenShareStore opens (creating it, mode 0700) the store in dir. The
// passphrase comes from the operator (a prompt or a key file); an empty
// one is refused.
func OpenShareStore(dir string, passphrase []byte) (*ShareStore, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("share store: an empty passphrase protects nothing")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}
	return &ShareStore{dir: dir, passphrase: append([]byte{}, passphrase...)}, nil
}

// PassphraseFromFile reads a key file, refusing one others can read.
func PassphraseFromFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is readable by others (mode %o): chmod 600 it", path, info.Mode().Perm())
	}
	return os.ReadFile(path)
}

func (s *ShareStore) path(keyID events.Hash) string {
	return filepath.Join(s.dir, keyID.String()+".share")
}

func (s *ShareStore) aead(salt []byte) (cipherAEAD, error) {
	key := argon2.IDKey(s.passphrase, salt, argonTime, argonMemory, argonThreads, chacha20poly1305.KeySize)
	return chacha20poly1305.NewX(key)
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// sealFile encrypts v's JSON under the passphrase with aad bound and
// writes it durably (write, fsync, rename), mode 0600.
func (s *ShareStore) sealFile(path string, v any, aad []byte) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	defer clear(plain)
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	aead, err := s.aead(salt)
	if err != nil {
		return err
	}
	out := append([]byte(shareMagic), salt...)
	out = append(out, nonce...)
	out = aead.Seal(out, nonce, plain, aad)
	return durable.WriteFile(path, out, 0o600)
}

// openFile reads and decrypts a sealed file into v.
func (s *ShareStore) openFile(path string, v any, aad []byte) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	head := len(shareMagic) + 16 + chacha20poly1305.NonceSizeX
	if len(raw) < head || string(raw[:len(shareMagic)]) != shareMagic {
		return fmt.Errorf("%s is not a metanode share file", path)
	}
	salt := raw[len(shareMagic) : len(shareMagic)+16]
	nonce := raw[len(shareMagic)+16 : head]
	aead, err := s.aead(salt)
	if err != nil {
		return err
	}
	plain, err := aead.Open(nil, nonce, raw[head:], aad)
	if err != nil {
		return fmt.Errorf("%s: %w", path, ErrShareLocked)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Save writes a key's save data, encrypted, durably, mode 0600.
func (s *ShareStore) Save(keyID events.Hash, data *keygen.LocalPartySaveData) error {
	if err := s.sealFile(s.path(keyID), data, keyID[:]); err != nil {
		return fmt.Errorf("share store: %w", err)
	}
	return nil
}

// Load reads and decrypts a key's save data.
func (s *ShareStore) Load(keyID events.Hash) (*keygen.LocalPartySaveData, error) {
	var data keygen.LocalPartySaveData
	if err := s.openFile(s.path(keyID), &data, keyID[:]); err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}
	for _, x := range data.BigXj {
		if x != nil {
			x.SetCurve(curve())
		}
	}
	if data.ECDSAPub != nil {
		data.ECDSAPub.SetCurve(curve())
	}
	return &data, nil
}

// identityAAD binds a sealed identity key: a share file renamed to
// identity.key does not open as one.
var identityAAD = []byte("metanode/identity-key")

// SaveIdentity seals the node's identity key (libp2p's protobuf
// encoding) at path with the share store's passphrase and scheme.
func (s *ShareStore) SaveIdentity(path string, key []byte) error {
	if err := s.sealFile(path, key, identityAAD); err != nil {
		return fmt.Errorf("identity key: %w", err)
	}
	return nil
}

// LoadIdentity opens a sealed identity key.
func (s *ShareStore) LoadIdentity(path string) ([]byte, error) {
	var key []byte
	if err := s.openFile(path, &key, identityAAD); err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	return key, nil
}
