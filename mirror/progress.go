package mirror

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress receives a run's progress: a phase with a known number of
// steps (objects to copy; -1 when unknown), counts within it.
type Progress interface {
	Start(phase string, total int64)
	// Step marks one step (an object) finished; count is the records so far.
	Step(label string, count int64)
	// Count updates the running count without finishing a step.
	Count(label string, count int64)
	Done()
}

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Step(string, int64)  {}
func (nopProgress) Count(string, int64) {}
func (nopProgress) Done()               {}

// IsTerminal reports whether f is a terminal (a character device), so
// the progress bar is drawn only for a person watching, never into logs.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// NewProgress returns a bar redrawn in place on w when w is a terminal,
// else log lines at the end of each step.
func NewProgress(w *os.File, log *slog.Logger) Progress {
	if IsTerminal(w) {
		return &bar{w: w}
	}
	return logProgress{log: log}
}

// NewBar returns the progress bar for a terminal w, and a writer for log
// lines that clears the bar's line before each one and redraws the bar
// after it, so that a warning never lands in the middle of the bar.
func NewBar(w io.Writer) (Progress, io.Writer) {
	b := &bar{w: w}
	return b, barLog{b}
}

type barLog struct{ b *bar }

func (l barLog) Write(p []byte) (int, error) {
	l.b.mu.Lock()
	defer l.b.mu.Unlock()
	if l.b.phase != "" {
		if _, err := io.WriteString(l.b.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
	n, err := l.b.w.Write(p)
	if err == nil && l.b.phase != "" {
		l.b.draw(true)
	}
	return n, err
}

type logProgress struct{ log *slog.Logger }

func (p logProgress) Start(phase string, total int64) {
	p.log.Info("mirror: starting", "phase", phase)
}
func (p logProgress) Step(label string, count int64) {
	p.log.Info("mirror: step done", "object", label, "records", count)
}
func (logProgress) Count(string, int64) {}
func (logProgress) Done()               {}

// bar draws "phase [#####-----] 3/7 label: N records" on one line.
type bar struct {
	mu    sync.Mutex
	w     io.Writer
	phase string
	total int64
	steps int64
	label string
	count int64
	drawn time.Time
}

func (b *bar) Start(phase string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase, b.total, b.steps, b.count, b.label = phase, total, 0, 0, ""
	b.draw(true)
}

func (b *bar) Step(label string, count int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.steps++
	b.label, b.count = label, count
	b.draw(true)
}

func (b *bar) Count(label string, count int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.label, b.count = label, count
	b.draw(false)
}

func (b *bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
	fmt.Fprintln(b.w)
	b.phase = "" // the line is finished: later log lines leave it be
}

// draw redraws at most ten times a second unless forced.
func (b *bar) draw(force bool) {
	if b.phase == "" {
		return
	}
	now := time.Now()
	if !force && now.Sub(b.drawn) < 100*time.Millisecond {
		return
	}
	b.drawn = now
	var line string
	if b.total > 0 {
		const width = 30
		filled := int(b.steps * width / b.total)
		line = fmt.Sprintf("%s [%s%s] %d/%d %s: %d records", b.phase, strings.Repeat("#", filled), strings.Repeat("-", width-filled),
			b.steps, b.total, b.label, b.count)
	} else {
		line = fmt.Sprintf("%s: %d applied", b.phase, b.count)
	}
	fmt.Fprintf(b.w, "\r\033[K%s", line)
}
