package testutil

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/leadscore/leads/pkg/embedded"
)

// RedisCluster starts a Redis Cluster of n masters (redis-server children
// in cluster mode on loopback ports, the 16384 slots split evenly between
// them) and stops it at cleanup. It returns the nodes' addresses. Tests
// skip when redis-server is not installed.
func RedisCluster(t testing.TB, n int) []string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed: no Redis Cluster test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for attempt := 0; ; attempt++ {
		addrs, err := startCluster(ctx, t, bin, n)
		if err == nil {
			return addrs
		}
		if attempt == 2 || ctx.Err() != nil {
			t.Fatalf("start a Redis Cluster of %d: %v", n, err)
		}
		t.Logf("retrying the Redis Cluster: %v", err)
	}
}

func startCluster(ctx context.Context, t testing.TB, bin string, n int) ([]string, error) {
	dir := t.TempDir()
	var addrs []string
	var clients []*redis.Client
	for i := range n {
		port, err := clusterPort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", i), "--cluster-node-timeout", "2000",
			"--dir", dir, "--dbfilename", fmt.Sprintf("dump-%d.rdb", i), "--save", "", "--appendonly", "no",
			"--logfile", fmt.Sprintf("node-%d.log", i),
			"--hash-max-listpack-value", strconv.Itoa(embedded.HashMaxListpackValue))
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		c := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { c.Close() })
		addrs, clients = append(addrs, addr), append(clients, c)
	}
	for _, c := range clients {
		if err := until(ctx, func() error { return c.Ping(ctx).Err() }); err != nil {
			return nil, fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
	}
	per := 16384 / n
	for i, c := range clients {
		last := (i+1)*per - 1
		if i == n-1 {
			last = 16383
		}
		if err := c.ClusterAddSlotsRange(ctx, i*per, last).Err(); err != nil {
			return nil, fmt.Errorf("add slots on %s: %w", addrs[i], err)
		}
	}
	for _, addr := range addrs[1:] {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		if err := clients[0].ClusterMeet(ctx, host, strconv.Itoa(p)).Err(); err != nil {
			return nil, fmt.Errorf("meet %s: %w", addr, err)
		}
	}
	for _, c := range clients {
		err := until(ctx, func() error {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				return fmt.Errorf("not ready: %s", strings.Fields(info)[0])
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Options().Addr, err)
		}
	}
	return addrs, nil
}

// clusterPort returns a free loopback port whose cluster bus port (+10000)
// is free too.
func clusterPort() (int, error) {
	for range 50 {
		port, err := embedded.FreePort()
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair for a cluster node")
}

// until retries op every 20 ms until it succeeds or ctx ends.
func until(ctx context.Context, op func() error) error {
	for {
		err := op()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
