package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/internal/durable"
)

// InitOptions say how to make a home.
type InitOptions struct {
	Config Config
	// Genesis, if set, is written as the home's genesis.toml.
	Genesis *Genesis
	// Passphrase seals the identity key; nil makes a random one, written
	// to the config's passphrase file (mode 0600).
	Passphrase []byte
	// Identity, if set, is sealed instead of a new key.
	Identity crypto.PrivKey
}

// InitResult is what Init made.
type InitResult struct {
	Peer           peer.ID
	PassphraseFile string // set when Init wrote a new passphrase
}

// Init makes a node's home: a sealed identity key, a commented
// config.toml, and the genesis if given. It refuses a home that already
// holds a config or an identity, and writes nothing when an input is bad.
func Init(home string, opts InitOptions) (InitResult, error) {
	var res InitResult
	if err := opts.Config.Validate(); err != nil {
		return res, err
	}
	var genesis []byte
	if opts.Genesis != nil {
		if _, err := opts.Genesis.Params(); err != nil {
			return res, err
		}
		var err error
		if genesis, err = opts.Genesis.Encode(); err != nil {
			return res, err
		}
	}
	for _, name := range []string{ConfigFile, IdentityFile} {
		if _, err := os.Stat(filepath.Join(home, name)); err == nil {
			return res, fmt.Errorf("%s already holds %s: init refuses to overwrite a node", home, name)
		} else if !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return res, fmt.Errorf("home: %w", err)
	}
	passphrase := opts.Passphrase
	if passphrase == nil {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return res, err
		}
		passphrase = []byte(hex.EncodeToString(secret))
		path := opts.Config.TSS.PassphraseFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(home, path)
		}
		if err := durable.WriteFile(path, append(passphrase, '\n'), 0o600); err != nil {
			return res, fmt.Errorf("passphrase: %w", err)
		}
		res.PassphraseFile = path
	}
	key := opts.Identity
	var err error
	if key == nil {
		if key, err = NewIdentity(home, passphrase, opts.Config.TSS.KDF()); err != nil {
			return res, err
		}
	} else if err := SealIdentity(home, passphrase, opts.Config.TSS.KDF(), key); err != nil {
		return res, err
	}
	if res.Peer, err = peer.IDFromPrivateKey(key); err != nil {
		return res, err
	}
	if err := durable.WriteFile(filepath.Join(home, ConfigFile), []byte(opts.Config.Render()), 0o600); err != nil {
		return res, fmt.Errorf("config: %w", err)
	}
	if genesis != nil {
		if err := durable.WriteFile(filepath.Join(home, GenesisFile), genesis, 0o644); err != nil {
			return res, fmt.Errorf("genesis: %w", err)
		}
	}
	return res, nil
}
