// Command devstack runs the whole pipeline with one command and nothing
// installed: an embedded Kafka broker, redis-server when it is on PATH (else
// an embedded Redis), the ingestor, the scorer, and demo traffic. Ctrl-C
// stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/leadscore/leads/pkg/app"
	"github.com/leadscore/leads/pkg/devstack"
	"github.com/leadscore/leads/pkg/program"
)

func main() {
	var cfg devstack.Config
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.IntVar(&cfg.KafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker (0: any free port)")
	fs.StringVar(&cfg.IngestorAddr, "ingestor-addr", "127.0.0.1:8080", "ingestor HTTP listener")
	fs.StringVar(&cfg.ScorerAddr, "scorer-addr", "127.0.0.1:8081", "scorer HTTP listener")
	fs.StringVar(&cfg.DecayerAddr, "decayer-addr", "127.0.0.1:8082", "decayer HTTP listener")
	fs.DurationVar(&cfg.DecayEvery, "decay-interval", time.Minute, "time between decay passes")
	fs.IntVar(&cfg.Partitions, "partitions", 8, "partitions of the events and transitions topics")
	fs.IntVar(&cfg.DemoRate, "demo-rate", 50, "demo events per second (0: no demo traffic)")
	fs.IntVar(&cfg.DemoContacts, "demo-contacts", 300, "contacts in the demo traffic")
	fs.StringVar(&cfg.ModelPath, "model", "", "scoring-model file (default: the built-in model)")
	fs.StringVar(&cfg.LogLevel, "log-level", "warn", "log level of the services")
	fs.BoolVar(&cfg.ForceMiniredis, "miniredis", false, "use the embedded Redis even when redis-server is installed")
	version := fs.Bool("version", false, "print the version, VCS revision and Go version, and exit")
	if err := program.ParseFlags(fs, os.Args[1:]); err != nil {
		// --help exits 0 and a command line it does not understand 2, as
		// the programs do.
		code := program.ExitCode(err)
		if code != 0 {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(code)
	}
	if *version {
		fmt.Println(app.ReadBuild().Line("devstack"))
		return
	}
	log, err := app.Logger("info")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = devstack.Run(ctx, cfg, log, func(s devstack.Stack) {
		fmt.Printf(`
leads is running (Ctrl-C to stop)
  Kafka (embedded)  %s   topics: %s, %s, %s
  Redis (%s)  %s
  ingestor          %s    (POST /v1/events, read API, /metrics)
  console           %[7]s/ui/
  scorer            %s    (/healthz, /readyz, /metrics)
  decayer           %s    (/healthz, /readyz, /metrics)

Try:
  curl -s -XPOST %[7]s/v1/events -H 'Content-Type: application/json' \
    -d '{"id":"try-1","type":"webinar.attended","contact_id":"c-try","account_id":"acme.io","time":"'$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ)'"}'
  curl -s %[7]s/v1/contacts/c-try
  curl -s %[7]s/v1/contacts/c-try/history
  curl -s '%[7]s/v1/leaderboard?by=contact&limit=5'
  curl -s %[7]s/v1/accounts/acme.io
`, s.Brokers[0], devstack.EventsTopic, devstack.TransitionsTopic, devstack.DLQTopic, s.RedisKind, s.RedisAddr, s.IngestorURL, s.ScorerURL, s.DecayerURL)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
