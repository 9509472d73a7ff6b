package redact

import (
	"context"
	"fmt"
	"log/slog"
)

// LogHandler wraps a slog handler so that nothing it writes holds a secret:
// the message and every string attribute go through Text, an attribute
// whose key looks secret (see Key) is replaced by Fixed, and errors and
// other values are masked as their text. Wrapping twice changes nothing.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{h}
}

type logHandler struct{ next slog.Handler }

func (l logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return l.next.Enabled(ctx, level)
}

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Text(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(logAttr(a))
		return true
	})
	return l.next.Handle(ctx, out)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = logAttr(a)
	}
	return logHandler{l.next.WithAttrs(masked)}
}

func (l logHandler) WithGroup(name string) slog.Handler { return logHandler{l.next.WithGroup(name)} }

func logAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch {
	case v.Kind() == slog.KindGroup:
		g := v.Group()
		masked := make([]any, len(g))
		for i, e := range g {
			masked[i] = logAttr(e)
		}
		return slog.Group(a.Key, masked...)
	case Key(a.Key) && v.Kind() != slog.KindBool:
		return slog.String(a.Key, Fixed)
	case v.Kind() == slog.KindString:
		return slog.String(a.Key, Text(v.String()))
	case v.Kind() == slog.KindAny:
		s := fmt.Sprint(v.Any())
		if m := Text(s); m != s {
			return slog.String(a.Key, m)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
