package tss

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v3/crypto"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/metanode/metanode/events"
)

// compressed encodes a tss-lib point as a 33-byte secp256k1 point.
func compressed(p *crypto.ECPoint) ([]byte, error) {
	var x, y btcec.FieldVal
	if p == nil || x.SetByteSlice(p.X().Bytes()) || y.SetByteSlice(p.Y().Bytes()) {
		return nil, fmt.Errorf("not a secp256k1 point")
	}
	return btcec.NewPublicKey(&x, &y).SerializeCompressed(), nil
}

// PublishKey builds the public data of a key from any member's save data:
// the group public key, each committee member's share point X_j (from
// tss-lib's BigXj, matched by party key) with its share id in committee
// order, and the key id (events.KeyIDOf), which changes with every regroup.
// Address stays empty until the chain adapter derives the vault's.
func PublishKey(save *keygen.LocalPartySaveData, committee []Party, threshold int) (*events.KeyPublished, error) {
	pub, err := compressed(save.ECDSAPub)
	if err != nil {
		return nil, fmt.Errorf("publish key: group key: %w", err)
	}
	key := &events.KeyPublished{PublicKey: pub, Threshold: threshold}
	for _, member := range committee {
		j := -1
		for i, k := range save.Ks {
			if k != nil && k.Cmp(member.Key) == 0 {
				j = i
			}
		}
		if j < 0 || j >= len(save.BigXj) {
			return nil, fmt.Errorf("publish key: %s is not a party of this key", member.Peer.Short())
		}
		point, err := compressed(save.BigXj[j])
		if err != nil {
			return nil, fmt.Errorf("publish key: share point of %s: %w", member.Peer.Short(), err)
		}
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: member.Peer, Point: point, ShareID: save.Ks[j].Bytes()})
	}
	key.KeyID = events.KeyIDOf(pub, key.SharePoints)
	return key, nil
}

// ShareScalar is this party's secret share x_i as 32 bytes, for share
// proofs. It never leaves the node.
func ShareScalar(save *keygen.LocalPartySaveData) []byte {
	return new(big.Int).Mod(save.Xi, btcec.S256().N).FillBytes(make([]byte, 32))
}

// GroupKey is the group public key of a key's save data, compressed (33
// bytes): every generation of a key that resharings hand on has the same.
func GroupKey(save *keygen.LocalPartySaveData) ([]byte, error) {
	return compressed(save.ECDSAPub)
}

// CheckShare reports why save is not peer's share of key, or nil when it
// is: of the same group key, and its secret share x with x*G the point
// key publishes for peer (so share proofs made with it verify against
// the key).
func CheckShare(save *keygen.LocalPartySaveData, key *events.KeyPublished, peer events.PeerID) error {
	id := key.KeyID.String()[:12]
	pub, err := GroupKey(save)
	if err != nil {
		return fmt.Errorf("share of key %s: %w", id, err)
	}
	if !bytes.Equal(pub, key.PublicKey) {
		return fmt.Errorf("the share held for key %s is of another group key", id)
	}
	i := slices.IndexFunc(key.SharePoints, func(sp events.SharePoint) bool { return sp.Peer == peer })
	if i < 0 {
		return fmt.Errorf("%s holds no share of key %s", peer.Short(), id)
	}
	point, err := SharePoint(ShareScalar(save))
	if err != nil {
		return fmt.Errorf("share of key %s: %w", id, err)
	}
	if !bytes.Equal(point, key.SharePoints[i].Point) {
		return fmt.Errorf("the share held for key %s is not the one it publishes for %s", id, peer.Short())
	}
	return nil
}

// PartiesOf names a published key's committee as session parties, each
// with its share id: signing and a resharing's old side address parties
// so.
func PartiesOf(key *events.KeyPublished) ([]Party, error) {
	parties := make([]Party, 0, len(key.SharePoints))
	for _, sp := range key.SharePoints {
		if len(sp.ShareID) == 0 {
			return nil, fmt.Errorf("key %s names no share id for %s", key.KeyID.String()[:12], sp.Peer.Short())
		}
		parties = append(parties, Party{Peer: sp.Peer, Key: new(big.Int).SetBytes(sp.ShareID)})
	}
	return parties, nil
}
