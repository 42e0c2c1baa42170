package backup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/layout"
	"github.com/rzonedb/rzone/internal/snapfile"
)

// backupFolder writes a backup folder as `rzone snapshot save --all` would:
// a meta group of zones A and B and a zone file for each, from real state
// machines. It returns the folder and the zones' state digests.
func backupFolder(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	m := snapfile.Manifest{Version: snapfile.Version, ClusterID: "old", Created: time.Now().UTC()}
	save := func(group string, index, term uint64, write func(w *bytes.Buffer) [32]byte) string {
		var body bytes.Buffer
		digest := write(&body)
		sum := sha256.Sum256(body.Bytes())
		h := snapfile.Header{ClusterID: "old", Group: group, Index: index, Term: term, Created: time.Now().UTC(),
			Size: int64(body.Len()), SHA256: hex.EncodeToString(sum[:])}
		var file bytes.Buffer
		if err := snapfile.Write(&file, h, &body); err != nil {
			t.Fatal(err)
		}
		name := snapfile.FileName(group)
		if err := os.WriteFile(filepath.Join(dir, name), file.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		m.Groups = append(m.Groups, snapfile.ManifestEntry{Group: group, File: name, Index: index, Term: term, SHA256: h.SHA256})
		return hex.EncodeToString(digest[:])
	}
	meta := fsm.NewMeta(nil)
	meta.Apply(&raft.Log{Index: 7, Term: 2, Type: raft.LogCommand, Data: fsm.EncodeMeta(fsm.MetaCmd{Type: fsm.MetaInit, ClusterID: "old",
		Zones: []fsm.ZoneInfo{{Name: "A", Backup: "B"}, {Name: "B", Backup: "A"}},
		Nodes: []fsm.NodeInfo{{ID: "x1", Zone: "A", RaftAddr: "10.0.0.1:1", HTTPAddr: "10.0.0.1:2", MetaVoter: true}}})})
	save("meta", 7, 2, func(w *bytes.Buffer) [32]byte {
		if _, d, err := meta.WriteSnapshot(w); err == nil {
			return d
		}
		t.Fatal("meta snapshot")
		return [32]byte{}
	})
	digests := map[string]string{}
	for i, z := range []string{"A", "B"} {
		f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		idx := uint64(10 + i)
		f.Apply(&raft.Log{Index: idx, Term: 4, Type: raft.LogCommand,
			Data: fsm.Encode(nil, fsm.Command{Type: fsm.CmdPutAccount, User: uint64(i), Time: 1, CreditLimit: 5000})})
		digests[z] = save("zone/"+z, idx, 4, func(w *bytes.Buffer) [32]byte {
			applied, d, err := f.WriteSnapshot(w)
			if err != nil || applied != idx {
				t.Fatalf("zone snapshot: applied %d, %v", applied, err)
			}
			return d
		})
		f.Close()
	}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, snapfile.ManifestFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, digests
}

var restoreNodes = []RestoreNode{
	{ID: "a1", Zone: "A", RaftAddr: "127.0.0.1:7000", HTTPAddr: "127.0.0.1:7070"},
	{ID: "a2", Zone: "A", RaftAddr: "127.0.0.1:7001", HTTPAddr: "127.0.0.1:7071"},
	{ID: "b1", Zone: "B", RaftAddr: "127.0.0.1:7002", HTTPAddr: "127.0.0.1:7072"},
}

// copyDir copies a backup folder so a test can damage its copy.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, _ := os.ReadDir(from)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(to, e.Name()), data, 0o600)
	}
	return to
}

// TestRestoreRefusesABadBackupAndWritesNothing damages a good backup in
// each way a file can be damaged (cut short, a flipped byte, another
// format version, no header, a manifest that disagrees): Restore refuses
// each with an error naming the cause, and the data folder stays empty.
func TestRestoreRefusesABadBackupAndWritesNothing(t *testing.T) {
	src, _ := backupFolder(t)
	zoneA := snapfile.FileName("zone/A")
	rewrite := func(name string, fn func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			p := filepath.Join(dir, name)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, fn(data), 0o600)
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		nodes  []RestoreNode
		want   error
		says   string
	}{
		{"truncated zone file", rewrite(zoneA, func(b []byte) []byte { return b[:len(b)-4096] }), nil, snapfile.ErrTruncated, "truncated"},
		{"flipped byte in the body", rewrite(zoneA, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), nil, snapfile.ErrCorrupt, "sha256"},
		{"wrong format version", rewrite(zoneA, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"version":1`), []byte(`"version":9`), 1)
		}), nil, snapfile.ErrVersion, "version"},
		{"no header", rewrite(snapfile.FileName("meta"), func(b []byte) []byte { return b[bytes.IndexByte(b, '\n')+1:] }), nil, snapfile.ErrNotSnapshot, "not an rzone snapshot"},
		{"manifest sha256 differs", rewrite(snapfile.ManifestFile, func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"sha256":"`), []byte(`"sha256":"f`), 1)
		}), nil, ErrRestore, "the manifest says"},
		{"zone file missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, zoneA)) }, nil, ErrRestore, "no such file"},
		{"zone without a node", nil, restoreNodes[:2], ErrRestore, "zone B has no node"},
		{"node of an unknown zone", nil, append([]RestoreNode{{ID: "c1", Zone: "C", RaftAddr: "127.0.0.1:1", HTTPAddr: "127.0.0.1:2"}}, restoreNodes...), ErrRestore, "does not have"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDir(t, src)
			if tt.damage != nil {
				tt.damage(t, dir)
			}
			nodes := tt.nodes
			if nodes == nil {
				nodes = restoreNodes
			}
			out := t.TempDir()
			_, err := Restore(RestoreConfig{From: dir, DataDir: out, Nodes: nodes})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Restore: %v, want %v saying %q", err, tt.want, tt.says)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Fatalf("a refused restore wrote %d entries into the data dir", len(entries))
			}
		})
	}
}

// TestRestoreSeedsEveryNode restores a good backup and reads back what each
// node's folder holds: the meta group's snapshot with the new nodes and
// cluster id and no leases, and the zone's snapshot at the backup's index
// with the zone's nodes as voters and the backup's state (equal digests).
// A second restore into the same folder is refused.
func TestRestoreSeedsEveryNode(t *testing.T) {
	src, digests := backupFolder(t)
	out := t.TempDir()
	res, err := Restore(RestoreConfig{From: src, DataDir: out, Nodes: restoreNodes})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClusterID == "" || res.ClusterID == "old" || res.From != "old" {
		t.Fatalf("cluster ids: new %q from %q", res.ClusterID, res.From)
	}
	for _, nd := range restoreNodes {
		snaps, err := raft.NewFileSnapshotStoreWithLogger(layout.GroupDir(filepath.Join(out, nd.ID), "meta"), 2, hclog.NewNullLogger())
		if err != nil {
			t.Fatal(err)
		}
		list, _ := snaps.List()
		if len(list) != 1 || list[0].Index != 7 || list[0].Term != 2 {
			t.Fatalf("%s: meta snapshots %+v", nd.ID, list)
		}
		_, rc, _ := snaps.Open(list[0].ID)
		applied, st, err := fsm.DecodeMetaSnapshot(rc)
		rc.Close()
		if err != nil || applied != 7 || st.ClusterID != res.ClusterID || len(st.Nodes) != 3 || len(st.Leases) != 0 || st.Epoch != 1 {
			t.Fatalf("%s: restored meta state at %d: %+v (%v)", nd.ID, applied, st, err)
		}
		voters := 0
		for _, s := range list[0].Configuration.Servers {
			if s.Suffrage == raft.Voter {
				voters++
			}
		}
		if voters != 3 {
			t.Fatalf("%s: meta voters %+v, want all three nodes", nd.ID, list[0].Configuration.Servers)
		}

		zdir := layout.GroupDir(filepath.Join(out, nd.ID), "zone/"+nd.Zone)
		zs, _ := raft.NewFileSnapshotStoreWithLogger(zdir, 2, hclog.NewNullLogger())
		zl, _ := zs.List()
		if len(zl) != 1 || len(zl[0].Configuration.Servers) != len(zoneNodes(mustNodes(res, nd.Zone), nd.Zone)) {
			t.Fatalf("%s: zone snapshots %+v", nd.ID, zl)
		}
		_, zrc, _ := zs.Open(zl[0].ID)
		f, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Restore(zrc); err != nil {
			t.Fatal(err)
		}
		applied, sum, _ := f.Digest()
		f.Close()
		if applied != zl[0].Index || hex.EncodeToString(sum[:]) != digests[nd.Zone] {
			t.Fatalf("%s: zone %s restored at %d with digest %x, backup %s", nd.ID, nd.Zone, applied, sum, digests[nd.Zone])
		}
	}
	if _, err := Restore(RestoreConfig{From: src, DataDir: out, Nodes: restoreNodes}); !errors.Is(err, ErrRestore) {
		t.Fatalf("a restore over existing folders: %v", err)
	}
}

// mustNodes lists the restored nodes of zone z (as RestoreResult's groups
// name them) as NodeInfo.
func mustNodes(res RestoreResult, z string) []fsm.NodeInfo {
	var out []fsm.NodeInfo
	for _, g := range res.Groups {
		if g.Group == "zone/"+z {
			for _, id := range g.Nodes {
				out = append(out, fsm.NodeInfo{ID: id, Zone: z})
			}
		}
	}
	return out
}
