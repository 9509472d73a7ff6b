package statuspage

// Health is an application's health in the words Argo CD users know.
type Health string

// The health states. Each has a word, a symbol and a colour (style.css,
// --health-<word>): the word and the symbol carry the meaning, so the page
// reads the same without colour.
const (
	Healthy     Health = "Healthy"
	Progressing Health = "Progressing"
	Degraded    Health = "Degraded"
	Suspended   Health = "Suspended"
	Missing     Health = "Missing"
	Unknown     Health = "Unknown"
)

// Healths are the states in the order the overview counts them.
var Healths = []Health{Healthy, Progressing, Degraded, Suspended, Missing, Unknown}

// worstFirst are the states as the counts list them: problems first.
var worstFirst = []Health{Degraded, Missing, Unknown, Progressing, Suspended, Healthy}

// Symbol is the state's mark, drawn beside its word; DejaVu Sans and the
// usual system fonts have all of them (no emoji, which render in colour).
func (h Health) Symbol() string {
	switch h {
	case Healthy:
		return "♥" // Argo CD's heart
	case Progressing:
		return "↻"
	case Degraded:
		return "✖"
	case Suspended:
		return "‖" // a pause sign
	case Missing:
		return "◌"
	}
	return "?"
}

// Class is the CSS class of the state's colour.
func (h Health) Class() string {
	switch h {
	case Healthy, Progressing, Degraded, Suspended, Missing:
		return "h-" + lower(string(h))
	}
	return "h-unknown"
}

// rank orders states from worst to best, for sorting problems first.
func (h Health) rank() int {
	switch h {
	case Degraded:
		return 0
	case Missing:
		return 1
	case Unknown:
		return 2
	case Progressing:
		return 3
	case Suspended:
		return 4
	}
	return 5
}

// DriftedSymbol and the class "drifted" mark drift, beside the word
// "Drifted" (Argo CD's OutOfSync).
const DriftedSymbol = "≠"

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
