package tss

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/internal/durable"
)

// A sealed file of format 2 (shares, the identity key, pre-parameters) is
//
//	magic "metanode-share-v2\n" (18)
//	argon2id time | memory KiB | threads   (4 bytes each, big endian)
//	salt (16) | nonce (24) | ciphertext
//
// argon2id(passphrase, salt) under the header's parameters gives 32 bytes;
// HKDF-SHA256 expands them into one key per use (a share, the identity
// key, a pre-parameter set), each under its own label; XChaCha20-Poly1305
// seals the JSON content under that key. The associated data binds the
// whole header and what the file is: for a share its key id and the
// node's peer id, so a share renamed to another key's name, or copied
// from another node's store (HA replicas of different nodes may share a
// passphrase), does not open. The parameters travel in the header, so an
// operator can raise them and old files still open.
//
// Format 1 ("metanode-share-v1\n" | salt | nonce | ciphertext; argon2id
// t=1, 64 MiB, 2 threads, its output the AEAD key itself, the key id
// alone as associated data) still opens. A share or identity file of
// format 1 is rewritten in format 2 when it is loaded: a share is saved
// once and never again, so "on the next save" would be never. If that
// rewrite fails the load still succeeds and the old file stays whole;
// the next load tries again (List shows what is left in format 1).
const (
	shareMagicV1 = "metanode-share-v1\n"
	shareMagicV2 = "metanode-share-v2\n"
	saltSize     = 16
	kdfHeader    = 12
)

// HKDF labels, one per use of a sealed file.
const (
	labelShare     = "metanode/share-store/v2/share"
	labelIdentity  = "metanode/share-store/v2/identity"
	labelPreParams = "metanode/share-store/v2/preparams"
)

// ErrShareLocked: the passphrase is wrong or the file was altered.
var ErrShareLocked = errors.New("wrong passphrase, or the share file was altered")

// KDFParams are argon2id's costs for a sealed file.
type KDFParams struct {
	Time      uint32 // passes over the memory
	MemoryKiB uint32
	Threads   uint32 // lanes, 1 to 255
}

// The least a node's store writes with (RFC 9106 section 4, the second
// recommended option: argon2id t=3, 64 MiB, p=4), and the most a file's
// header may ask: a damaged or tampered header must not make a load run
// for minutes or exhaust the node's memory.
const (
	MinKDFTime      = 3
	MinKDFMemoryKiB = 64 << 10
	MinKDFThreads   = 4
	MaxKDFTime      = 64
	MaxKDFMemoryKiB = 4 << 20 // 4 GiB
	MaxKDFThreads   = 255
)

// DefaultKDF is the cost a store writes with unless the operator raises
// it: the minimum.
func DefaultKDF() KDFParams {
	return KDFParams{Time: MinKDFTime, MemoryKiB: MinKDFMemoryKiB, Threads: MinKDFThreads}
}

var (
	kdfV1   = KDFParams{Time: 1, MemoryKiB: 64 << 10, Threads: 2}
	kdfTest = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
)

func (p KDFParams) String() string {
	return fmt.Sprintf("t=%d m=%d KiB p=%d", p.Time, p.MemoryKiB, p.Threads)
}

// Validate refuses parameters a store must not write with: below the
// minimum (RFC 9106) or above the bound a reader accepts.
func (p KDFParams) Validate() error {
	switch {
	case p.Time < MinKDFTime || p.MemoryKiB < MinKDFMemoryKiB || p.Threads < MinKDFThreads:
		return fmt.Errorf("argon2id %s is below the minimum %s (RFC 9106)", p, DefaultKDF())
	case p.Time > MaxKDFTime || p.MemoryKiB > MaxKDFMemoryKiB || p.Threads > MaxKDFThreads:
		return fmt.Errorf("argon2id %s is above the bound t=%d m=%d KiB p=%d", p, MaxKDFTime, MaxKDFMemoryKiB, MaxKDFThreads)
	}
	return nil
}

// bounded reports whether a file's header asks for parameters argon2id
// can run within the bounds (low ones included: format 1's, or a test
// store's).
func (p KDFParams) bounded() bool {
	return p.Time >= 1 && p.Time <= MaxKDFTime && p.Threads >= 1 && p.Threads <= MaxKDFThreads &&
		p.MemoryKiB >= 8*p.Threads && p.MemoryKiB <= MaxKDFMemoryKiB
}

func (p KDFParams) derive(passphrase, salt []byte) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, uint8(p.Threads), 32)
}

// ShareStoreOptions say whose shares a store keeps and how hard its
// files are to guess open.
type ShareStoreOptions struct {
	// Peer is the node whose shares the store keeps, bound into every
	// share file. Saving or loading a share needs it; the identity key
	// (opened before the peer id is known) and the pre-parameter pool do
	// without.
	Peer events.PeerID
	// KDF is argon2id's cost for the files the store writes; zero is
	// DefaultKDF(). Below the minimum is refused.
	KDF KDFParams
	// InsecureTestKDF writes files with next to no argon2id work (KDF is
	// ignored): for tests and simulations, whose stores guard nothing.
	// Never for a node.
	InsecureTestKDF bool
}

// ShareStore keeps this node's key shares encrypted at rest.
type ShareStore struct {
	dir        string
	passphrase []byte
	peer       events.PeerID
	kdf        KDFParams
	// writes: one file written or erased at a time, so two loads that
	// both rewrite a format 1 file never share its temporary file
	writes sync.Mutex
	// replicate, if set, carries every share saved to the node's other
	// replicas (ReplicateWith)
	replicate func(name string, sealed []byte) error
}

// ShareSuffix ends every share file's name.
const ShareSuffix = shareSuffix

// Dir is the store's directory.
func (s *ShareStore) Dir() string { return s.dir }

// ReplicateWith makes Save hand every share it wrote, sealed as on disk,
// to fn (an HA node's raft: ha.Replica.PutFile), and fail unless fn
// succeeds: a share that only the leading replica held would be lost to
// the node at its next failover. Set it before the store is used.
func (s *ShareStore) ReplicateWith(fn func(name string, sealed []byte) error) { s.replicate = fn }

// OpenShareStore opens (creating it, mode 0700) the store in dir. The
// passphrase comes from the operator (a prompt or a key file); an empty
// one is refused.
func OpenShareStore(dir string, passphrase []byte, opts ShareStoreOptions) (*ShareStore, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("share store: an empty passphrase protects nothing")
	}
	kdf := opts.KDF
	switch {
	case opts.InsecureTestKDF:
		kdf = kdfTest
	case kdf == KDFParams{}:
		kdf = DefaultKDF()
	}
	if err := kdf.Validate(); err != nil && !opts.InsecureTestKDF {
		return nil, fmt.Errorf("share store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}
	return &ShareStore{dir: dir, passphrase: append([]byte{}, passphrase...), peer: opts.Peer, kdf: kdf}, nil
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

const shareSuffix = ".share"

func sharePath(dir string, keyID events.Hash) string {
	return filepath.Join(dir, keyID.String()+shareSuffix)
}

func (s *ShareStore) path(keyID events.Hash) string { return sharePath(s.dir, keyID) }

// sealBytes encrypts plain for one use (label) with the parts of bind as
// associated data, and writes it durably (write, fsync, rename, sync the
// directory), mode 0600.
func (s *ShareStore) sealBytes(path, label string, bind [][]byte, plain []byte) error {
	header := make([]byte, 0, len(shareMagicV2)+kdfHeader+saltSize+chacha20poly1305.NonceSizeX)
	header = append(header, shareMagicV2...)
	header = binary.BigEndian.AppendUint32(header, s.kdf.Time)
	header = binary.BigEndian.AppendUint32(header, s.kdf.MemoryKiB)
	header = binary.BigEndian.AppendUint32(header, s.kdf.Threads)
	random := make([]byte, saltSize+chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(random); err != nil {
		return err
	}
	header = append(header, random...)
	salt, nonce := random[:saltSize], random[saltSize:]
	aead, err := aeadV2(s.kdf, s.passphrase, salt, label)
	if err != nil {
		return err
	}
	out := aead.Seal(header, nonce, plain, hkdfInfo(label, append([][]byte{header}, bind...)...))
	s.writes.Lock()
	defer s.writes.Unlock()
	return durable.WriteFile(path, out, 0o600)
}

func aeadV2(kdf KDFParams, passphrase, salt []byte, label string) (cipherAEAD, error) {
	secret := kdf.derive(passphrase, salt)
	defer clear(secret)
	key, err := deriveKey(secret, label)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return chacha20poly1305.NewX(key)
}

type cipherAEAD interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// openBytes reads and decrypts a sealed file of either format: label and
// bind for format 2, aadV1 for format 1. It returns the plaintext and
// the file's format.
func (s *ShareStore) openBytes(path, label string, bind [][]byte, aadV1 []byte) ([]byte, int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	switch formatOf(raw) {
	case 1:
		head := len(shareMagicV1) + saltSize + chacha20poly1305.NonceSizeX
		if len(raw) < head {
			return nil, 0, fmt.Errorf("%s: %w", path, ErrShareLocked)
		}
		salt, nonce := raw[len(shareMagicV1):len(shareMagicV1)+saltSize], raw[len(shareMagicV1)+saltSize:head]
		key := kdfV1.derive(s.passphrase, salt)
		defer clear(key)
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			return nil, 0, err
		}
		plain, err := aead.Open(nil, nonce, raw[head:], aadV1)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, ErrShareLocked)
		}
		return plain, 1, nil
	case 2:
		head := len(shareMagicV2) + kdfHeader + saltSize + chacha20poly1305.NonceSizeX
		if len(raw) < head {
			return nil, 0, fmt.Errorf("%s: %w", path, ErrShareLocked)
		}
		params := raw[len(shareMagicV2) : len(shareMagicV2)+kdfHeader]
		kdf := KDFParams{Time: binary.BigEndian.Uint32(params), MemoryKiB: binary.BigEndian.Uint32(params[4:]), Threads: binary.BigEndian.Uint32(params[8:])}
		if !kdf.bounded() {
			return nil, 0, fmt.Errorf("%s: the header asks for argon2id %s, beyond t=%d m=%d KiB p=%d: %w",
				path, kdf, MaxKDFTime, MaxKDFMemoryKiB, MaxKDFThreads, ErrShareLocked)
		}
		salt := raw[len(shareMagicV2)+kdfHeader : len(shareMagicV2)+kdfHeader+saltSize]
		nonce := raw[len(shareMagicV2)+kdfHeader+saltSize : head]
		aead, err := aeadV2(kdf, s.passphrase, salt, label)
		if err != nil {
			return nil, 0, err
		}
		plain, err := aead.Open(nil, nonce, raw[head:], hkdfInfo(label, append([][]byte{raw[:head]}, bind...)...))
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, ErrShareLocked)
		}
		return plain, 2, nil
	}
	return nil, 0, fmt.Errorf("%s is not a metanode share file", path)
}

// formatOf tells a sealed file's format by its magic: 1, 2, or 0 for
// none metanode knows.
func formatOf(head []byte) int {
	switch {
	case bytes.HasPrefix(head, []byte(shareMagicV2)):
		return 2
	case bytes.HasPrefix(head, []byte(shareMagicV1)):
		return 1
	}
	return 0
}

// sealFile writes v's JSON sealed (sealBytes).
func (s *ShareStore) sealFile(path, label string, bind [][]byte, v any) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	defer clear(plain)
	return s.sealBytes(path, label, bind, plain)
}

// openFile reads a sealed file into v. A file of format 1 is rewritten in
// format 2 if upgrade is set; if that fails the old file stays whole and
// the next open tries again.
func (s *ShareStore) openFile(path, label string, bind [][]byte, aadV1 []byte, upgrade bool, v any) error {
	plain, format, err := s.openBytes(path, label, bind, aadV1)
	if err != nil {
		return err
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if format == 1 && upgrade {
		_ = s.sealBytes(path, label, bind, plain)
	}
	return nil
}

// shareBinding is what a share file is bound to: its key id and the
// node's peer id.
func (s *ShareStore) shareBinding(keyID events.Hash) ([][]byte, error) {
	if s.peer == "" {
		return nil, errors.New("share store: no peer id to bind shares to (ShareStoreOptions.Peer)")
	}
	return [][]byte{keyID[:], []byte(s.peer)}, nil
}

// Save writes a key's save data, encrypted, durably, mode 0600.
func (s *ShareStore) Save(keyID events.Hash, data *keygen.LocalPartySaveData) error {
	bind, err := s.shareBinding(keyID)
	if err != nil {
		return err
	}
	if err := s.sealFile(s.path(keyID), labelShare, bind, data); err != nil {
		return fmt.Errorf("share store: %w", err)
	}
	if s.replicate != nil {
		sealed, err := os.ReadFile(s.path(keyID))
		if err != nil {
			return fmt.Errorf("share store: %w", err)
		}
		if err := s.replicate(filepath.Base(s.path(keyID)), sealed); err != nil {
			return fmt.Errorf("share store: the share did not reach the other replicas: %w", err)
		}
	}
	return nil
}

// Load reads and decrypts a key's save data (a file of format 1 is
// rewritten in format 2).
func (s *ShareStore) Load(keyID events.Hash) (*keygen.LocalPartySaveData, error) {
	bind, err := s.shareBinding(keyID)
	if err != nil {
		return nil, err
	}
	var data keygen.LocalPartySaveData
	if err := s.openFile(s.path(keyID), labelShare, bind, keyID[:], true, &data); err != nil {
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

// Erase overwrites a key's share file with random bytes, fsyncs it,
// removes it and syncs the directory (internal/durable.Erase); a copy a
// save interrupted by a crash left beside it goes the same way. Erasing
// a share the store does not hold is no error, so an erasure interrupted
// by a crash can simply be done again. It needs no passphrase.
func (s *ShareStore) Erase(keyID events.Hash) error {
	path := s.path(keyID)
	s.writes.Lock()
	defer s.writes.Unlock()
	if err := errors.Join(durable.EraseIfExists(path), durable.EraseIfExists(path+".tmp")); err != nil {
		return fmt.Errorf("share store: erase %s: %w", keyID.String()[:12], err)
	}
	return nil
}

// ShareInfo describes a share file without opening it.
type ShareInfo struct {
	KeyID   events.Hash
	Format  int // 1 or 2; 0: not a format metanode knows
	Size    int64
	ModTime time.Time
}

// List describes the shares the store holds, by key id.
func (s *ShareStore) List() ([]ShareInfo, error) { return ListShares(s.dir) }

// ListShares describes the shares held in a store's directory, by key id.
// It needs no passphrase: it reads names, sizes and magics only. A store
// that does not exist holds nothing.
func ListShares(dir string) ([]ShareInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}
	var out []ShareInfo
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), shareSuffix)
		raw, err := hex.DecodeString(name)
		if !ok || err != nil || len(raw) != len(events.Hash{}) || !e.Type().IsRegular() {
			continue
		}
		info := ShareInfo{KeyID: events.Hash(raw)}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("share store: %w", err)
		}
		head := make([]byte, len(shareMagicV2))
		n, _ := io.ReadFull(f, head)
		stat, err := f.Stat()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("share store: %w", err)
		}
		info.Format, info.Size, info.ModTime = formatOf(head[:n]), stat.Size(), stat.ModTime()
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ShareInfo) int { return bytes.Compare(a.KeyID[:], b.KeyID[:]) })
	return out, nil
}

// identityAADV1 bound a format 1 identity file: a share file renamed to
// identity.key does not open as one (format 2 binds by its own label).
var identityAADV1 = []byte("metanode/identity-key")

// SaveIdentity seals the node's identity key (libp2p's protobuf
// encoding) at path with the share store's passphrase and scheme. It
// needs no peer id: the key is the peer id's source.
func (s *ShareStore) SaveIdentity(path string, key []byte) error {
	if err := s.sealFile(path, labelIdentity, nil, key); err != nil {
		return fmt.Errorf("identity key: %w", err)
	}
	return nil
}

// LoadIdentity opens a sealed identity key (a file of format 1 is
// rewritten in format 2).
func (s *ShareStore) LoadIdentity(path string) ([]byte, error) {
	var key []byte
	if err := s.openFile(path, labelIdentity, nil, identityAADV1, true, &key); err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	return key, nil
}
