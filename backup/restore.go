package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/raft"
	"github.com/rzonedb/rzone/fsm"
	"github.com/rzonedb/rzone/internal/layout"
	"github.com/rzonedb/rzone/internal/snapfile"
	"github.com/rzonedb/rzone/zone"
)

// RestoreNode is one node of the cluster a restore makes: its id, zone and
// the addresses it will be started with (--raft-addr or --raft-advertise,
// --http-addr or --http-advertise).
type RestoreNode struct {
	ID, Zone, RaftAddr, HTTPAddr string
}

// RestoreConfig says what Restore reads and where it writes.
type RestoreConfig struct {
	// From is a folder `rzone snapshot save --all` wrote: manifest.json
	// and one file per group.
	From string
	// DataDir receives one data folder per node, DataDir/ID: start each
	// node with --data-dir DataDir/ID (`rzone dev --data-dir DataDir`
	// lays its nodes out the same way).
	DataDir string
	// Nodes are the new cluster's nodes; every zone of the backup needs
	// at least one.
	Nodes []RestoreNode
	// Progress, if set, receives a line per step.
	Progress io.Writer
	// LogStore is the Raft log store of the groups' new folders (empty:
	// zone.LogStoreWAL).
	LogStore zone.LogStoreKind
}

// RestoreResult describes the cluster Restore made.
type RestoreResult struct {
	ClusterID string `json:"cluster_id"`
	// From is the backup's cluster id.
	From   string          `json:"from_cluster_id"`
	Groups []RestoredGroup `json:"groups"`
	// Dirs are the data folders written, by node id.
	Dirs map[string]string `json:"dirs"`
}

// RestoredGroup is one group of the new cluster and where it starts.
type RestoredGroup struct {
	Group string   `json:"group"`
	Index uint64   `json:"index"`
	Term  uint64   `json:"term"`
	Nodes []string `json:"voters"`
}

// ErrRestore wraps every reason a restore refuses its input.
var ErrRestore = errors.New("restore refused")

// Restore builds the data folders of a new cluster from a backup folder,
// like etcdutl snapshot restore: every file is read whole and checked
// (header, version, size, SHA-256, manifest) before anything is written,
// and nothing is written over an existing folder. The new cluster has a
// new cluster id and the given nodes; each group starts from its backup's
// snapshot at its index, with the group's nodes as voters (the meta
// group's voters picked as cluster init picks them), and goes on in a term
// after the backup's. The meta state keeps the route table, zones, config,
// tokens and batch runs; its node list becomes Nodes and its leases are
// dropped (the new zone leaders take new ones).
func Restore(cfg RestoreConfig) (RestoreResult, error) {
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	var res RestoreResult
	if _, err := zone.ParseLogStoreKind(string(cfg.LogStore)); err != nil {
		return res, fmt.Errorf("%w: %v", ErrRestore, err)
	}
	m, files, err := readBackup(cfg.From, progress)
	if err != nil {
		return res, err
	}
	metaFile := files["meta"]
	body, err := readSnapBody(metaFile.path)
	if err != nil {
		return res, err
	}
	applied, st, err := fsm.DecodeMetaSnapshot(bytes.NewReader(body))
	if err != nil {
		return res, fmt.Errorf("%w: %s: %v", ErrRestore, metaFile.path, err)
	}
	if applied != metaFile.h.Index {
		return res, fmt.Errorf("%w: %s: state is at index %d, header says %d", ErrRestore, metaFile.path, applied, metaFile.h.Index)
	}
	if err := restorable(st, files); err != nil {
		return res, err
	}
	nodes, err := planRestore(st, cfg)
	if err != nil {
		return res, err
	}
	res = RestoreResult{ClusterID: layout.NewClusterID(), From: m.ClusterID, Dirs: map[string]string{}}
	st.ClusterID = res.ClusterID
	st.Nodes = nodes
	st.Leases = nil
	metaBody, err := fsm.EncodeMetaSnapshot(applied, st)
	if err != nil {
		return res, err
	}

	// Everything checks out: write each node's folder under a temporary
	// name, then move it into place.
	var metaVoters []fsm.NodeInfo
	for _, nd := range nodes {
		if nd.MetaVoter {
			metaVoters = append(metaVoters, nd)
		}
	}
	res.Groups = append(res.Groups, RestoredGroup{Group: "meta", Index: metaFile.h.Index, Term: metaFile.h.Term, Nodes: ids(metaVoters)})
	for _, z := range st.Zones {
		f := files["zone/"+z.Name]
		res.Groups = append(res.Groups, RestoredGroup{Group: f.h.Group, Index: f.h.Index, Term: f.h.Term, Nodes: ids(zoneNodes(nodes, z.Name))})
	}
	var written []string
	cleanup := func() {
		for _, d := range written {
			os.RemoveAll(d)
		}
	}
	for _, nd := range nodes {
		final := filepath.Join(cfg.DataDir, nd.ID)
		tmp := final + ".restoring"
		os.RemoveAll(tmp)
		written = append(written, tmp)
		fmt.Fprintf(progress, "writing %s (zone %s)\n", final, nd.Zone)
		if err := zone.SeedReplica(layout.GroupDir(tmp, "meta"), cfg.LogStore, metaFile.h.Index, metaFile.h.Term, layout.Voters(metaVoters),
			int64(len(metaBody)), bytes.NewReader(metaBody)); err != nil {
			cleanup()
			return res, err
		}
		zf := files["zone/"+nd.Zone]
		if err := seedFromFile(layout.GroupDir(tmp, "zone/"+nd.Zone), cfg.LogStore, zf, layout.Voters(zoneNodes(nodes, nd.Zone))); err != nil {
			cleanup()
			return res, err
		}
	}
	for _, nd := range nodes {
		final := filepath.Join(cfg.DataDir, nd.ID)
		if err := os.Rename(final+".restoring", final); err != nil {
			cleanup()
			return res, fmt.Errorf("move %s into place: %w", final, err)
		}
		res.Dirs[nd.ID] = final
	}
	fmt.Fprintf(progress, "restored %d groups onto %d nodes: new cluster %s (from %s)\n", len(res.Groups), len(nodes), res.ClusterID, res.From)
	return res, nil
}

// backupFile is one verified file of a backup.
type backupFile struct {
	path string
	h    snapfile.Header
}

// readBackup reads the manifest of the backup folder dir and verifies
// every file it names, whole.
func readBackup(dir string, progress io.Writer) (snapfile.Manifest, map[string]backupFile, error) {
	var m snapfile.Manifest
	data, err := os.ReadFile(filepath.Join(dir, snapfile.ManifestFile))
	if err != nil {
		return m, nil, fmt.Errorf("%w: %v", ErrRestore, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, nil, fmt.Errorf("%w: %s: %v", ErrRestore, snapfile.ManifestFile, err)
	}
	if m.Version != snapfile.Version {
		return m, nil, fmt.Errorf("%w: %s: %w: %d", ErrRestore, snapfile.ManifestFile, snapfile.ErrVersion, m.Version)
	}
	files := map[string]backupFile{}
	for _, e := range m.Groups {
		if e.File != filepath.Base(e.File) || e.File == "" {
			return m, nil, fmt.Errorf("%w: %s: file %q of %s is not a name in the folder", ErrRestore, snapfile.ManifestFile, e.File, e.Group)
		}
		if _, dup := files[e.Group]; dup {
			return m, nil, fmt.Errorf("%w: %s names group %s twice", ErrRestore, snapfile.ManifestFile, e.Group)
		}
		path := filepath.Join(dir, e.File)
		fmt.Fprintf(progress, "verifying %s\n", path)
		h, err := snapfile.Verify(path)
		if err != nil {
			return m, nil, fmt.Errorf("%w: %w", ErrRestore, err)
		}
		if h.Group != e.Group || h.Index != e.Index || h.Term != e.Term || h.SHA256 != e.SHA256 || h.ClusterID != m.ClusterID {
			return m, nil, fmt.Errorf("%w: %s holds %s at index %d (cluster %q, sha256 %.12s), the manifest says %s at %d (cluster %q, sha256 %.12s)",
				ErrRestore, path, h.Group, h.Index, h.ClusterID, h.SHA256, e.Group, e.Index, m.ClusterID, e.SHA256)
		}
		files[e.Group] = backupFile{path: path, h: h}
	}
	if _, ok := files["meta"]; !ok {
		return m, nil, fmt.Errorf("%w: the backup has no meta group", ErrRestore)
	}
	return m, files, nil
}

// restorable checks that the backup's zones match the meta state's and that
// no failover or shard move was under way: their state spans groups a
// backup does not hold (failover stores) or moments between the groups'
// snapshots.
func restorable(st fsm.MetaState, files map[string]backupFile) error {
	if !st.Initialized {
		return fmt.Errorf("%w: the backup's meta group was never initialized", ErrRestore)
	}
	for _, z := range st.Zones {
		if _, ok := files["zone/"+z.Name]; !ok {
			return fmt.Errorf("%w: the backup has no file for zone %s", ErrRestore, z.Name)
		}
		if z.PhaseOf() != fsm.PhaseNormal {
			return fmt.Errorf("%w: zone %s was %s when the meta group was saved; save again once it is normal", ErrRestore, z.Name, z.PhaseOf())
		}
	}
	for g := range files {
		if z, ok := strings.CutPrefix(g, "zone/"); ok {
			if _, known := st.ZoneOf(z); !known {
				return fmt.Errorf("%w: the backup holds %s, which its meta group does not know", ErrRestore, g)
			}
		}
	}
	for i, s := range st.Shards {
		if s.Target != "" {
			return fmt.Errorf("%w: shard %d was moving to %s when the meta group was saved; save again once it has moved", ErrRestore, i, s.Target)
		}
	}
	return nil
}

// planRestore checks the new nodes against the backup's zones and the data
// folder, and returns them as the meta state lists nodes.
func planRestore(st fsm.MetaState, cfg RestoreConfig) ([]fsm.NodeInfo, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: no data dir", ErrRestore)
	}
	byZone := map[string][]fsm.NodeInfo{}
	seen := map[string]bool{}
	for _, nd := range cfg.Nodes {
		if err := fsm.ValidName("node id", nd.ID); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRestore, err)
		}
		if seen[nd.ID] || seen["raft "+nd.RaftAddr] || seen["http "+nd.HTTPAddr] {
			return nil, fmt.Errorf("%w: node %s: id or address given twice", ErrRestore, nd.ID)
		}
		seen[nd.ID], seen["raft "+nd.RaftAddr], seen["http "+nd.HTTPAddr] = true, true, true
		if _, ok := st.ZoneOf(nd.Zone); !ok {
			return nil, fmt.Errorf("%w: node %s is in zone %q, which the backup does not have", ErrRestore, nd.ID, nd.Zone)
		}
		for name, addr := range map[string]string{"raft": nd.RaftAddr, "http": nd.HTTPAddr} {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("%w: node %s: %s address %q: %v", ErrRestore, nd.ID, name, addr, err)
			}
		}
		dir := filepath.Join(cfg.DataDir, nd.ID)
		if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
			return nil, fmt.Errorf("%w: %s exists and is not empty; restore writes only new folders", ErrRestore, dir)
		}
		byZone[nd.Zone] = append(byZone[nd.Zone], fsm.NodeInfo{ID: nd.ID, Zone: nd.Zone, HTTPAddr: nd.HTTPAddr, RaftAddr: nd.RaftAddr})
	}
	var zones []string
	for _, z := range st.Zones {
		if len(byZone[z.Name]) == 0 {
			return nil, fmt.Errorf("%w: zone %s has no node", ErrRestore, z.Name)
		}
		sort.Slice(byZone[z.Name], func(a, b int) bool { return byZone[z.Name][a].ID < byZone[z.Name][b].ID })
		zones = append(zones, z.Name)
	}
	nodes := layout.MetaVoters(zones, byZone)
	// The meta state lists nodes by id (fsm's init sorts them).
	slices.SortFunc(nodes, func(a, b fsm.NodeInfo) int { return strings.Compare(a.ID, b.ID) })
	return nodes, nil
}

// seedFromFile seeds a replica in dir from a verified backup file.
func seedFromFile(dir string, kind zone.LogStoreKind, f backupFile, voters []raft.Server) error {
	h, body, err := snapfile.Open(f.path)
	if err != nil {
		return err
	}
	defer body.Close()
	return zone.SeedReplica(dir, kind, h.Index, h.Term, voters, h.Size, body)
}

// readSnapBody reads a verified backup file's body whole (the meta group's is
// small).
func readSnapBody(path string) ([]byte, error) {
	_, body, err := snapfile.Open(path)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}

func zoneNodes(nodes []fsm.NodeInfo, z string) []fsm.NodeInfo {
	var out []fsm.NodeInfo
	for _, nd := range nodes {
		if nd.Zone == z {
			out = append(out, nd)
		}
	}
	return out
}

func ids(nodes []fsm.NodeInfo) []string {
	out := make([]string, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.ID
	}
	return out
}
