package node

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// Erasure of superseded shares. A regroup (a resharing) keeps the group
// secret and hands out new shares, but the old shares still reconstruct
// it: t+1 of them, stolen at any time from any generation, would take
// the vault. So once a key is current here whose group key is an older
// key's (a resharing of it) and this node's share of it has proven
// itself (it is the share the key publishes a point for, for this node),
// the older key's share file is overwritten and removed and its cached
// data forgotten. Until then the old share stays: the new key may never
// become current here. A keygen that replaces a key (another group key)
// erases nothing, as the old vault may still hold funds.
//
// Only Keys.Current and Keys.History are consulted, not how a key became
// current. The check runs when the current key changes, when the node
// keeps a new key's share (a member may adopt the key from t+1
// announcements before its own session ends and gives it its share), and
// when the node opens (a node stopped before its erasure, or whose
// erasure failed, erases at its next start). It is file I/O and argon2id,
// so it runs after the node's lock is released, like publishing; a
// failure is reported through TSS.Erased and never stops the node.

// currentKeyID is the current key's id, zero without one.
func (n *Node) currentKeyID() events.Hash {
	if key, ok := n.state.Keys.Current(); ok {
		return key.KeyID
	}
	return events.Hash{}
}

// noteKeyChange marks an erasure check due if the current key is no
// longer before (under the lock, after applying events).
func (n *Node) noteKeyChange(before events.Hash) {
	if n.currentKeyID() != before {
		n.eraseDue.Store(true)
	}
}

// keepShare seals a new key's share in the share store and caches it,
// and marks an erasure check due: the share may be what the current key
// was waiting for.
func (n *Node) keepShare(key *events.KeyPublished, made *keygen.LocalPartySaveData) error {
	if n.cfg.TSS.Shares == nil {
		return errors.New("no share store for the new key")
	}
	if err := n.cfg.TSS.Shares.Save(key.KeyID, made); err != nil {
		return fmt.Errorf("keep the new key's share: %w", err)
	}
	n.keys[key.KeyID] = made
	n.eraseDue.Store(true)
	return nil
}

// CheckErasure runs the erasure check now: shares may have come back (an
// HA replica installed a snapshot holding one it had erased).
func (n *Node) CheckErasure() {
	n.eraseDue.Store(true)
	n.eraseIfDue()
}

// eraseIfDue runs the erasure check if the current key changed, or a
// share was kept, since the last one; called after the lock is released.
func (n *Node) eraseIfDue() {
	if n.eraseDue.Swap(false) {
		n.eraseSuperseded()
	}
}

// eraseSuperseded erases the shares this node holds of keys that were
// current here and that the current key reshared, once the current key's
// share has proven itself. Never under the node's lock.
func (n *Node) eraseSuperseded() {
	if n.cfg.TSS == nil || n.cfg.TSS.Shares == nil {
		return
	}
	shares := n.cfg.TSS.Shares
	n.eraseMu.Lock() // one check at a time; each sees the store as the last left it
	defer n.eraseMu.Unlock()

	n.mu.Lock()
	current, ok := n.state.Keys.Current()
	history := n.state.Keys.History()
	cached := map[events.Hash]*keygen.LocalPartySaveData{}
	for _, id := range history {
		if data, ok := n.keys[id]; ok {
			cached[id] = data
		}
	}
	n.mu.Unlock()
	if !ok {
		return
	}
	held, err := shares.List()
	if err != nil {
		n.reportErasure(current.KeyID, err)
		return
	}
	var superseded []events.Hash
	for _, h := range held {
		if h.KeyID != current.KeyID && slices.Contains(history, h.KeyID) {
			superseded = append(superseded, h.KeyID)
		}
	}
	if len(superseded) == 0 {
		return
	}
	load := func(id events.Hash) (*keygen.LocalPartySaveData, error) {
		if data, ok := cached[id]; ok {
			return data, nil
		}
		return shares.Load(id)
	}
	data, err := load(current.KeyID)
	if err == nil && cached[current.KeyID] == nil {
		n.mu.Lock()
		if _, ok := n.keys[current.KeyID]; !ok {
			n.keys[current.KeyID] = data // the next signing session needs it too
		}
		n.mu.Unlock()
	}
	if errors.Is(err, os.ErrNotExist) {
		err = fmt.Errorf("this node holds no share of the current key %s", current.KeyID.String()[:12])
	}
	if err == nil {
		err = tss.CheckShare(data, current, n.id)
	}
	if err != nil {
		// The shares it superseded may be all this node has: keep them.
		for _, id := range superseded {
			n.reportErasure(id, fmt.Errorf("kept: %w", err))
		}
		return
	}
	for _, id := range superseded {
		pub, ok := n.groupOf[id]
		if !ok {
			old, err := load(id)
			if err == nil {
				pub, err = tss.GroupKey(old)
			}
			if err != nil {
				n.reportErasure(id, fmt.Errorf("kept: %w", err))
				continue
			}
			n.groupOf[id] = pub // a kept share is not opened (argon2id) at every check
		}
		if !bytes.Equal(pub, current.PublicKey) {
			continue // replaced by a keygen: its vault may still hold funds
		}
		if err := shares.Erase(id); err != nil {
			n.reportErasure(id, err)
			continue
		}
		n.mu.Lock()
		delete(n.keys, id)
		n.mu.Unlock()
		delete(n.groupOf, id)
		n.reportErasure(id, nil)
	}
}

func (n *Node) reportErasure(key events.Hash, err error) {
	if n.cfg.TSS.Erased != nil {
		n.cfg.TSS.Erased(key, err)
	}
}
