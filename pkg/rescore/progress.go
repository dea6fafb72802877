package rescore

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// Progress is told how much a backfill has to do and how it goes.
type Progress interface {
	Start(total int64)
	Add(n int64)
	Finish()
}

// NewProgress returns a progress bar with rate and ETA on w when w is a
// terminal, and otherwise periodic log lines (every interval) saying the
// same, so a backfill in a pod's log is followed as well as one in a shell.
func NewProgress(w io.Writer, log *zap.Logger, interval time.Duration) Progress {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{w: w}
	}
	return &logProgress{log: log, interval: interval, now: time.Now}
}

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(total int64) {
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription("backfill"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("events"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(p.w, "\n") }),
	)
}

func (p *barProgress) Add(n int64) { _ = p.bar.Add64(n) }
func (p *barProgress) Finish()     { _ = p.bar.Finish() }

// logProgress logs done/total, the rate since the start and the ETA.
type logProgress struct {
	log      *zap.Logger
	interval time.Duration
	now      func() time.Time

	mu           sync.Mutex
	total, done  int64
	start, shown time.Time
}

func (p *logProgress) Start(total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.start, p.shown = total, p.now(), p.now()
	p.log.Info("backfill started", zap.Int64("total", total))
}

func (p *logProgress) Add(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if now := p.now(); now.Sub(p.shown) >= p.interval {
		p.shown = now
		p.line("backfill progress")
	}
}

func (p *logProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line("backfill finished")
}

func (p *logProgress) line(msg string) {
	elapsed := p.now().Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(p.done) / elapsed.Seconds()
	}
	fields := []zap.Field{zap.Int64("done", p.done), zap.Int64("total", p.total),
		zap.Float64("events_per_second", rate), zap.Duration("elapsed", elapsed)}
	if rate > 0 && p.total > p.done {
		fields = append(fields, zap.Duration("eta", time.Duration(float64(p.total-p.done)/rate*float64(time.Second))))
	}
	p.log.Info(msg, fields...)
}
