package model

import "sort"

// Reach is what the content of one file can change: the environments whose
// desired objects depend on it. A file that declares a pool or a policy, a
// file that could not be read to its end, and an application whose list of
// environments is itself broken reach every environment.
//
// The pipeline blocks by reach: a load error in a file blocks every
// environment the file could affect, so that a typo can never make an
// environment's desired set lose an object (and prune it). It must not be
// decided from the content in error: an application whose
// `environments:` is misspelled names no environment at all.
type Reach struct {
	// All is set when the file can affect every environment.
	All bool
	// Environments are the environments it affects when All is false,
	// sorted.
	Environments []string
}

// fileDoc is one document of a file, as far as the loader identified it.
type fileDoc struct {
	env       *Environment
	app       *FlinkApplication
	statement *FlinkStatement
	wide      bool // a pool, a policy, or a document whose kind is unknown
}

// note records a document of file for Reach.
func (l *loader) note(file string, d fileDoc) {
	if l.repo.docs == nil {
		l.repo.docs = map[string][]fileDoc{}
	}
	l.repo.docs[file] = append(l.repo.docs[file], d)
}

// Reach returns what file can affect. A file the loader never read (or
// could not identify a document of) reaches every environment.
func (r *Repository) Reach(file string) Reach {
	docs, ok := r.docs[file]
	if !ok || file == "" {
		return Reach{All: true}
	}
	set := map[string]bool{}
	for _, d := range docs {
		switch {
		case d.wide:
			return Reach{All: true}
		case d.env != nil:
			if !isLabel(d.env.Metadata.Name) {
				return Reach{All: true}
			}
			set[d.env.Metadata.Name] = true
		case d.app != nil, d.statement != nil:
			envs, ok := r.soundEnvironments(d.origin(), d.environments())
			if !ok {
				return Reach{All: true}
			}
			for _, e := range envs {
				set[e] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return Reach{Environments: out}
}

// soundEnvironments returns the environments an application runs in when
// its list is trustworthy: decoded without error, not empty, without
// duplicates, and naming only environments the repository declares.
// Otherwise the app could have been meant to run anywhere.
func (r *Repository) soundEnvironments(o Origin, envs []string) ([]string, bool) {
	if o.failed["spec.environments"] || o.failed["spec"] || len(envs) == 0 {
		return nil, false
	}
	if _, ok := o.lines["spec"]; !ok {
		return nil, false
	}
	seen := map[string]bool{}
	for _, e := range envs {
		if seen[e] || r.envs[e] == nil {
			return nil, false
		}
		seen[e] = true
	}
	return envs, true
}

// origin and environments are those of an application or statement document.
func (d fileDoc) origin() Origin {
	if d.app != nil {
		return d.app.Origin
	}
	return d.statement.Origin
}

func (d fileDoc) environments() []string {
	if d.app != nil {
		return d.app.Spec.Environments
	}
	return d.statement.Spec.Environments
}
