package daemon

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// PassphraseEnv overrides [tss] passphrase_file.
const PassphraseEnv = "METANODE_PASSPHRASE"

// Passphrase is the operator's passphrase: METANODE_PASSPHRASE, or the
// file [tss] passphrase_file names (relative to the home, mode 0600).
func Passphrase(home string, cfg Config) ([]byte, error) {
	if env := os.Getenv(PassphraseEnv); env != "" {
		return []byte(env), nil
	}
	if cfg.TSS.PassphraseFile == "" {
		return nil, fmt.Errorf("no passphrase: set %s or [tss] passphrase_file", PassphraseEnv)
	}
	path := cfg.TSS.PassphraseFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(home, path)
	}
	data, err := tss.PassphraseFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no passphrase: %s does not exist (set %s, or write the file with mode 0600)", path, PassphraseEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	pass := []byte(strings.TrimRight(string(data), "\r\n"))
	if len(pass) == 0 {
		return nil, fmt.Errorf("passphrase: %s is empty", path)
	}
	return pass, nil
}

// openSecrets opens the sealed identity key, then the share store bound
// to the peer id it gives (a share file is bound to its node's peer id);
// files they write are sealed at cost kdf.
func openSecrets(home string, passphrase []byte, kdf tss.KDFParams) (*tss.ShareStore, crypto.PrivKey, error) {
	path := filepath.Join(home, IdentityFile)
	if _, err := os.Stat(path); err != nil {
		return nil, nil, fmt.Errorf("%s: %w (run `metanode init --home %s` first)", path, errors.Unwrap(err), home)
	}
	sealed, err := tss.OpenShareStore(filepath.Join(home, SharesDir), passphrase, tss.ShareStoreOptions{KDF: kdf})
	if err != nil {
		return nil, nil, err
	}
	raw, err := sealed.LoadIdentity(path)
	if err != nil {
		return nil, nil, err
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, nil, fmt.Errorf("identity key %s: %s key, want Ed25519", path, key.Type())
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	store, err := tss.OpenShareStore(filepath.Join(home, SharesDir), passphrase, tss.ShareStoreOptions{Peer: events.PeerID(id), KDF: kdf})
	if err != nil {
		return nil, nil, err
	}
	return store, key, nil
}

// NewIdentity makes an Ed25519 identity key and seals it into the home
// with the passphrase, at argon2id cost kdf.
func NewIdentity(home string, passphrase []byte, kdf tss.KDFParams) (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	return key, SealIdentity(home, passphrase, kdf, key)
}

// SealIdentity writes key, sealed with the passphrase at argon2id cost
// kdf, as the home's identity key.
func SealIdentity(home string, passphrase []byte, kdf tss.KDFParams, key crypto.PrivKey) error {
	raw, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	store, err := tss.OpenShareStore(filepath.Join(home, SharesDir), passphrase, tss.ShareStoreOptions{KDF: kdf})
	if err != nil {
		return err
	}
	return store.SaveIdentity(filepath.Join(home, IdentityFile), raw)
}
