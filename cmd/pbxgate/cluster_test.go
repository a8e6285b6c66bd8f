package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/testkit"
)

// clusterStatus runs pbxgate cluster status --json against a box.
func clusterStatus(t *testing.T, dataDir string) (clusterReply, int) {
	t.Helper()
	out, stderr, code := runPbxgate(t, "", "cluster", "status", "--json", "--data", dataDir)
	var rep clusterReply
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("cluster status: %v\nstdout %s\nstderr %s", err, out, stderr)
	}
	return rep, code
}

// TestThreeDaemonsFormOneCluster: three pbxgate processes, each with its
// own data directory, join one cluster over loopback routes; pbxgate
// cluster status on every box names the same leader and all three boxes.
// kill -9 of the leader's process: the two others elect a new leader
// within the cluster issue's 30 s, and report the lost box.
func TestThreeDaemonsFormOneCluster(t *testing.T) {
	work := t.TempDir()
	ports := make([]string, 3)
	for i := range ports {
		ports[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1")))
	}
	type box struct {
		name, dataDir string
		p             *proc
	}
	boxes := make([]*box, 3)
	for i := range boxes {
		b := &box{name: fmt.Sprintf("box%d", i+1), dataDir: filepath.Join(work, fmt.Sprintf("data%d", i+1))}
		var peers []string
		for j, p := range ports {
			if j != i {
				peers = append(peers, strconv.Quote(p))
			}
		}
		cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "127.0.0.1:0"}
modems: {discover: false}
shutdown_timeout: 5s
cluster:
  name: site
  node: %s
  listen: %q
  peers: [%s]
  user: pbxgate
`, b.dataDir, b.name, ports[i], strings.Join(peers, ", "))
		path := filepath.Join(work, b.name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PBXGATE_CLUSTER_PASSWORD", "a-route-secret-of-32-characters!")
		b.p = startDaemon(t, path)
		boxes[i] = b
	}
	var leader string
	for _, b := range boxes {
		testkit.Eventually(t, b.name+" sees the whole cluster", func() bool {
			rep, code := clusterStatus(t, b.dataDir)
			if code != 0 || rep.Status == nil || rep.Status.Leader == "" || len(rep.Status.Members) != 3 {
				return false
			}
			if leader == "" {
				leader = rep.Status.Leader
			}
			return rep.Status.Leader == leader && rep.Status.Connected() == 3
		})
	}
	// An entry on box1's blacklist reaches box3 (consent is shared).
	apis := make([]*apiClient, 3)
	for i, b := range boxes {
		completeSetup(t, b.p)
		out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", b.dataDir)
		if code != 0 {
			t.Fatal(stderr)
		}
		apis[i] = &apiClient{t: t, base: b.p.portal, token: strings.TrimSpace(out)}
	}
	apis[0].do("POST", "/api/v1/blacklist", []byte(`{"entry":"+4917012345678"}`), nil)
	testkit.Eventually(t, "box1's blacklist entry on box3", func() bool {
		var list json.RawMessage
		apis[2].do("GET", "/api/v1/blacklist", nil, &list)
		return strings.Contains(string(list), "4917012345678")
	})

	// The text form for the installer.
	out, _, code := runPbxgate(t, "", "cluster", "status", "--data", boxes[0].dataDir)
	if code != 0 || !strings.Contains(out, "leader "+leader) || !strings.Contains(out, "3 of 3 boxes connected") {
		t.Errorf("cluster status text (exit %d):\n%s", code, out)
	}

	var gone *box
	var rest []*box
	for _, b := range boxes {
		if b.name == leader {
			gone = b
		} else {
			rest = append(rest, b)
		}
	}
	killed := time.Now()
	if err := gone.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-gone.p.done
	deadline := time.Now().Add(30 * time.Second)
	for {
		rep, _ := clusterStatus(t, rest[0].dataDir)
		if st := rep.Status; st != nil && st.Leader != "" && st.Leader != leader {
			t.Logf("new leader %s %v after kill -9 of %s", st.Leader, time.Since(killed).Round(time.Millisecond), leader)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader 30 s after kill -9 of %s: %+v", leader, rep.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// With two of three boxes the consent is still shared.
	alive := map[string]*apiClient{}
	for i, b := range boxes {
		alive[b.name] = apis[i]
	}
	alive[rest[0].name].do("POST", "/api/v1/blacklist", []byte(`{"entry":"+4917099999999"}`), nil)
	testkit.Eventually(t, "a blacklist entry after the loss on the other box", func() bool {
		var list json.RawMessage
		alive[rest[1].name].do("GET", "/api/v1/blacklist", nil, &list)
		return strings.Contains(string(list), "4917099999999")
	})
	// /readyz names the cluster as degraded, not down: the box keeps
	// working.
	testkit.Eventually(t, "readyz reports the missing box", func() bool {
		resp, err := http.Get(rest[1].p.portal + "readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		return strings.Contains(body, `"cluster"`) && strings.Contains(body, "2 of 3 boxes connected")
	})
}

// TestOneBoxHasNoCluster: without a cluster section nothing of NATS runs
// and no cluster directory is made; cluster status says so.
func TestOneBoxHasNoCluster(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	p := startDaemon(t, writeConfig(t, dataDir))
	out, _, code := runPbxgate(t, "", "cluster", "status", "--data", dataDir)
	if code != 0 || !strings.Contains(out, "not in a cluster") {
		t.Errorf("cluster status on one box (exit %d): %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dataDir, clusterDirName)); !os.IsNotExist(err) {
		t.Errorf("a box without a cluster section made %s: %v", clusterDirName, err)
	}
	if strings.Contains(p.log(), "nats") {
		t.Errorf("NATS logged on a single box:\n%s", p.log())
	}
}
