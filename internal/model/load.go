package model

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	yaml "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinksync/flinksync/internal/diag"
	"github.com/flinksync/flinksync/internal/source"
)

// Repository is a loaded repository: every object that decoded, and the
// effective application per environment.
type Repository struct {
	Environments []*Environment
	Pools        []*ComputePool
	Apps         []*FlinkApplication
	Policies     []*Policy
	Statements   []*FlinkStatement
	Catalogs     []*KafkaCatalog
	// Files are the YAML files read, relative to the root, in read order.
	Files []string
	// SQLFiles are the files statements read their SQL from (spec.sqlFile), sorted.
	SQLFiles []string

	envs      map[string]*Environment
	pools     map[string]*ComputePool
	apps      map[string]*FlinkApplication
	effective map[string][]*EffectiveApp
	// statements, catalogs and their effective forms per environment.
	statements          map[string]*FlinkStatement
	catalogs            map[string]*KafkaCatalog
	effectiveStatements map[string][]*EffectiveStatement
	effectiveCatalogs   map[string][]*EffectiveCatalog
	// docs are the documents of each file, for Reach.
	docs map[string][]fileDoc
}

// Environment returns the environment called name, or nil.
func (r *Repository) Environment(name string) *Environment { return r.envs[name] }

// Pool returns the pool called name, or nil.
func (r *Repository) Pool(name string) *ComputePool { return r.pools[name] }

// App returns the application called name, or nil.
func (r *Repository) App(name string) *FlinkApplication { return r.apps[name] }

// EffectiveApps returns the applications of environment env, by name, with
// their overrides merged and defaults applied.
func (r *Repository) EffectiveApps(env string) []*EffectiveApp { return r.effective[env] }

// EffectiveApp is an application as it runs in one environment: the spec
// with overrides.<env> merged over it and defaults applied.
type EffectiveApp struct {
	Name        string
	App         *FlinkApplication
	Environment *Environment
	Pool        *ComputePool
	// Spec is the merged spec; its Overrides are nil.
	Spec AppSpec
	// Origin locates the fields of Spec: an overridden field points at the
	// override's line.
	Origin Origin
}

// ErrNotDirectory is returned when the repository root cannot be read.
var ErrNotDirectory = errors.New("repository root is not a readable directory")

// Load reads the repository under the directory root the way every
// command reads it: through a source.Dir with the default limits (confined
// to root, regular files only, byte-capped). See LoadFS.
func Load(root string) (*Repository, []*diag.Finding, error) {
	st, err := os.Stat(root)
	if err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("%s: %w", root, ErrNotDirectory)
	}
	dir, err := source.OpenDir(root, source.Limits{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", root, ErrNotDirectory, err)
	}
	defer dir.Close()
	return LoadFS(dir)
}

// LoadFS reads every *.yaml and *.yml file of fsys, except under overlays/
// and hidden folders, and returns the typed repository.
//
// Every problem in the repository is a finding (rule LOAD-…, with file and
// line), sorted; the repository beside them is what could be read. The
// error means the repository could not be read at all (its root cannot be
// listed), and then there is no repository.
func LoadFS(fsys fs.FS) (*Repository, []*diag.Finding, error) {
	l := &loader{fsys: fsys, repo: newRepository(), sqlFiles: map[string]sqlFile{}, checkedPools: map[string]bool{}}
	if err := fs.WalkDir(fsys, ".", l.visit); err != nil {
		return nil, nil, err
	}
	l.parsePending()
	l.check()
	diag.Sort(l.findings)
	return l.repo, l.findings, nil
}

// newRepository returns an empty repository ready to be filled.
func newRepository() *Repository {
	return &Repository{
		envs: map[string]*Environment{}, pools: map[string]*ComputePool{}, apps: map[string]*FlinkApplication{},
		effective: map[string][]*EffectiveApp{}, statements: map[string]*FlinkStatement{}, catalogs: map[string]*KafkaCatalog{},
		effectiveStatements: map[string][]*EffectiveStatement{}, effectiveCatalogs: map[string][]*EffectiveCatalog{},
	}
}

type loader struct {
	// pending are the files read and not yet parsed.
	pending []readFile
	// checkedPools are the pool × environment pairs whose CMF name was checked.
	checkedPools map[string]bool
	// sqlFiles are the files statements read their SQL from.
	sqlFiles map[string]sqlFile
	fsys     fs.FS
	repo     *Repository
	findings []*diag.Finding
	// dropped counts findings decoders did not keep (see MaxFindingsPerFile).
	dropped int
}

func (l *loader) add(f *diag.Finding) { l.findings = append(l.findings, f) }

func (l *loader) errorf(file string, line int, rule *diag.Rule, env, app, format string, args ...any) {
	l.add(rule.Atf(file, line, format, args...).For(env, app))
}

func (l *loader) visit(p string, d fs.DirEntry, err error) error {
	if err != nil {
		if p == "." {
			return err
		}
		l.errorf(p, 0, RuleRead, "", "", "cannot read: %v", err)
		return nil
	}
	if d.IsDir() {
		if p == "." {
			return nil
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") || p == "overlays" {
			return fs.SkipDir
		}
		return nil
	}
	ext := path.Ext(p)
	if (ext != ".yaml" && ext != ".yml") || strings.HasPrefix(d.Name(), ".") {
		return nil
	}
	data, err := fs.ReadFile(l.fsys, p)
	if err != nil {
		l.errorf(p, 0, RuleRead, "", "", "cannot read: %v", err)
		l.note(p, fileDoc{wide: true})
		return nil
	}
	l.repo.Files = append(l.repo.Files, p)
	l.pending = append(l.pending, readFile{p, data})
	return nil
}

// readFile is a file read by visit and not yet parsed.
type readFile struct {
	name string
	data []byte
}

// parsePending parses the files visit read, on every CPU: each file into
// a loader of its own, merged back in the order the files were read, so
// the result does not depend on the scheduling. (Reading stays
// sequential: the source counts bytes against its limits.)
func (l *loader) parsePending() {
	parsed := make([]*loader, len(l.pending))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(1, len(l.pending)/16)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(l.pending); i = int(next.Add(1) - 1) {
				f := l.pending[i]
				c := &loader{repo: &Repository{}}
				c.parseFile(f.name, f.data)
				parsed[i] = c
			}
		}()
	}
	wg.Wait()
	for i, c := range parsed {
		r := l.repo
		r.Environments = append(r.Environments, c.repo.Environments...)
		r.Pools = append(r.Pools, c.repo.Pools...)
		r.Apps = append(r.Apps, c.repo.Apps...)
		r.Policies = append(r.Policies, c.repo.Policies...)
		r.Statements = append(r.Statements, c.repo.Statements...)
		r.Catalogs = append(r.Catalogs, c.repo.Catalogs...)
		name := l.pending[i].name
		for _, d := range c.repo.docs[name] {
			l.note(name, d)
		}
		l.findings = append(l.findings, c.findings...)
		l.dropped += c.dropped
	}
	l.pending = nil
}

// parseFile reads every document of one file, with at most
// MaxFindingsPerFile findings.
func (l *loader) parseFile(p string, data []byte) {
	before, droppedBefore := len(l.findings), l.dropped
	l.file(p, data)
	if n := len(l.findings) - before + l.dropped - droppedBefore; n > MaxFindingsPerFile {
		// A hostile or broken file must not drown the report (or the
		// memory of whoever reads it): the first ones say what is wrong.
		l.findings = l.findings[:before+MaxFindingsPerFile]
		l.errorf(p, 0, RuleSyntax, "", "", "%d more problem(s) in this file not listed (at most %d are reported per file); fix the ones above first",
			n-MaxFindingsPerFile, MaxFindingsPerFile)
	}
}

// MaxFindingsPerFile is how many findings one file reports at most; the
// rest are counted in one more finding. The file is blocked all the same.
const MaxFindingsPerFile = 100

var yamlLine = regexp.MustCompile(`line (\d+)`)

// file reads every document of one file.
func (l *loader) file(name string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line := 0
			if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
				line, _ = strconv.Atoi(m[1])
			}
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = yamlLine.ReplaceAllString(msg, "")
			msg = strings.TrimLeft(msg, " :")
			l.errorf(name, line, RuleSyntax, "", "", "malformed YAML: %s (the rest of the file was not read)", msg)
			l.note(name, fileDoc{wide: true})
			return
		}
		if len(doc.Content) == 0 {
			continue
		}
		l.document(name, doc.Content[0])
	}
}

// document dispatches one document by kind.
func (l *loader) document(file string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty document
	}
	if n.Kind != yaml.MappingNode {
		l.note(file, fileDoc{wide: true})
		l.errorf(file, n.Line, RuleWrongType, "", "", "a document must be a map with apiVersion, kind, metadata and spec, got %s", describe(n))
		return
	}
	l.findings = append(l.findings, repeatedKeys(file, n)...)
	var apiVersion, kind *yaml.Node
	body := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column, Tag: n.Tag}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "apiVersion":
			apiVersion = cmp.Or(apiVersion, n.Content[i+1]) // the first, as for every key
		case "kind":
			kind = cmp.Or(kind, n.Content[i+1])
		default:
			body.Content = append(body.Content, n.Content[i], n.Content[i+1])
		}
	}
	name := peekName(body)
	if apiVersion == nil || kind == nil || apiVersion.Value != APIVersion {
		l.note(file, fileDoc{wide: true})
	}
	if apiVersion == nil {
		l.errorf(file, n.Line, RuleRequired, "", "", "missing required field \"apiVersion\" (want %s)", APIVersion)
		return
	}
	if kind == nil {
		l.errorf(file, n.Line, RuleRequired, "", "", "missing required field \"kind\" (one of Environment, ComputePool, FlinkApplication, FlinkStatement, KafkaCatalog, Policy)")
		return
	}
	if apiVersion.Value != APIVersion {
		l.errorf(file, apiVersion.Line, RuleKind, "", "", "apiVersion: %q is not supported; use %s", apiVersion.Value, APIVersion)
		return
	}
	d := &decoder{file: file, lines: map[string]int{}, failed: map[string]bool{}}
	origin := func() Origin { return Origin{File: file, Line: n.Line, lines: d.lines, failed: d.failed} }
	switch kind.Value {
	case KindEnvironment:
		d.env = name
		e := decodeDocument[Environment](d, body, origin)
		l.repo.Environments = append(l.repo.Environments, e)
		l.note(file, fileDoc{env: e})
	case KindComputePool:
		l.repo.Pools = append(l.repo.Pools, decodeDocument[ComputePool](d, body, origin))
		l.note(file, fileDoc{wide: true})
	case KindFlinkApplication:
		d.app = name
		a := decodeDocument[FlinkApplication](d, body, origin)
		l.repo.Apps = append(l.repo.Apps, a)
		l.note(file, fileDoc{app: a})
	case KindFlinkStatement:
		d.app = name
		st := decodeDocument[FlinkStatement](d, body, origin)
		l.repo.Statements = append(l.repo.Statements, st)
		l.note(file, fileDoc{statement: st})
	case KindKafkaCatalog:
		l.repo.Catalogs = append(l.repo.Catalogs, decodeDocument[KafkaCatalog](d, body, origin))
		l.note(file, fileDoc{wide: true})
	case KindPolicy:
		l.repo.Policies = append(l.repo.Policies, decodeDocument[Policy](d, body, origin))
		l.note(file, fileDoc{wide: true})
	default:
		l.note(file, fileDoc{wide: true})
		l.errorf(file, kind.Line, RuleKind, "", "", "kind: %q is not a kind of %s (one of Environment, ComputePool, FlinkApplication, FlinkStatement, KafkaCatalog, Policy)", kind.Value, APIVersion)
		return
	}
	l.findings = append(l.findings, d.findings...)
	l.dropped += d.dropped
}

// document is a decoded repository document of one kind.
type document[T any] interface {
	*T
	setOrigin(Origin)
}

// decodeDocument decodes a document's body into a new T and records where
// it came from.
func decodeDocument[T any, P document[T]](d *decoder, body *yaml.Node, origin func() Origin) P {
	doc := P(new(T))
	d.decode(body, reflect.ValueOf(doc).Elem(), "")
	doc.setOrigin(origin())
	return doc
}

func (e *Environment) setOrigin(o Origin)      { e.Origin = o }
func (p *ComputePool) setOrigin(o Origin)      { p.Origin = o }
func (a *FlinkApplication) setOrigin(o Origin) { a.Origin = o }
func (s *FlinkStatement) setOrigin(o Origin)   { s.Origin = o }
func (c *KafkaCatalog) setOrigin(o Origin)     { c.Origin = o }
func (p *Policy) setOrigin(o Origin)           { p.Origin = o }

// peekName finds metadata.name in a document body to label its findings.
func peekName(body *yaml.Node) string {
	for i := 0; i+1 < len(body.Content); i += 2 {
		if body.Content[i].Value != "metadata" || body.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		md := body.Content[i+1]
		for j := 0; j+1 < len(md.Content); j += 2 {
			if md.Content[j].Value == "name" && md.Content[j+1].Kind == yaml.ScalarNode {
				return md.Content[j+1].Value
			}
		}
	}
	return ""
}

// flinkVersions are the spec.flinkVersion values of the FKO 1.15 CRD.
var flinkVersions = []string{"v1_13", "v1_14", "v1_15", "v1_16", "v1_17", "v1_18", "v1_19", "v1_20", "v2_0", "v2_1", "v2_2"}

// cfkFlinkVersions are the spec.flinkVersion values of the CFK 3.3.0
// FlinkApplication CRD, a subset of flinkVersions.
var cfkFlinkVersions = []string{"v1_18", "v1_19", "v1_20", "v2_0", "v2_1"}

// check runs the cross-document checks, applies defaults and builds the
// effective applications.
func (l *loader) check() {
	r := l.repo
	sortByName(r.Environments, func(e *Environment) string { return e.Metadata.Name })
	sortByName(r.Pools, func(p *ComputePool) string { return p.Metadata.Name })
	sortByName(r.Apps, func(a *FlinkApplication) string { return a.Metadata.Name })
	sortByName(r.Policies, func(p *Policy) string { return p.Metadata.Name })

	for _, e := range r.Environments {
		if l.named(KindEnvironment, e.Metadata.Name, e.Origin, e.Metadata.Name, "") {
			if prev, dup := r.envs[e.Metadata.Name]; dup {
				l.duplicate(KindEnvironment, e.Metadata.Name, e.Origin, prev.Origin, e.Metadata.Name, "")
				continue
			}
			r.envs[e.Metadata.Name] = e
		}
		l.checkEnvironment(e)
	}
	if len(r.Environments) == 0 {
		l.errorf("", 0, RuleNoEnv, "", "", "the repository declares no Environment: add one (e.g. environments/dev.yaml with kind: Environment)")
	}
	for _, p := range r.Pools {
		if l.named(KindComputePool, p.Metadata.Name, p.Origin, "", "") {
			if prev, dup := r.pools[p.Metadata.Name]; dup {
				l.duplicate(KindComputePool, p.Metadata.Name, p.Origin, prev.Origin, "", "")
				continue
			}
			r.pools[p.Metadata.Name] = p
		}
		l.checkPool(p)
	}
	for _, p := range r.Policies {
		l.named(KindPolicy, p.Metadata.Name, p.Origin, "", "")
		l.checkPolicy(p)
	}
	for _, a := range r.Apps {
		if l.named(KindFlinkApplication, a.Metadata.Name, a.Origin, "", a.Metadata.Name) {
			if prev, dup := r.apps[a.Metadata.Name]; dup {
				l.duplicate(KindFlinkApplication, a.Metadata.Name, a.Origin, prev.Origin, "", a.Metadata.Name)
				continue
			}
			r.apps[a.Metadata.Name] = a
		}
		l.checkApp(a)
	}
	sortByName(r.Catalogs, func(c *KafkaCatalog) string { return c.Metadata.Name })
	sortByName(r.Statements, func(s *FlinkStatement) string { return s.Metadata.Name })
	for _, c := range r.Catalogs {
		if l.named(KindKafkaCatalog, c.Metadata.Name, c.Origin, "", "") {
			if prev, dup := r.catalogs[c.Metadata.Name]; dup {
				l.duplicate(KindKafkaCatalog, c.Metadata.Name, c.Origin, prev.Origin, "", "")
				continue
			}
			r.catalogs[c.Metadata.Name] = c
		}
		l.checkCatalog(c)
	}
	for _, st := range r.Statements {
		if l.named(KindFlinkStatement, st.Metadata.Name, st.Origin, "", st.Metadata.Name) {
			if prev, dup := r.statements[st.Metadata.Name]; dup {
				l.duplicate(KindFlinkStatement, st.Metadata.Name, st.Origin, prev.Origin, "", st.Metadata.Name)
				continue
			}
			r.statements[st.Metadata.Name] = st
		}
		l.checkStatement(st)
	}
	l.checkSQLNames()
	for env := range r.effective {
		sortByName(r.effective[env], func(e *EffectiveApp) string { return e.Name })
	}
	for env := range r.effectiveStatements {
		sortByName(r.effectiveStatements[env], func(e *EffectiveStatement) string { return e.Name })
	}
	for env := range r.effectiveCatalogs {
		sortByName(r.effectiveCatalogs[env], func(e *EffectiveCatalog) string { return e.Name })
	}
	for f, read := range l.sqlFiles {
		if read.err == nil {
			r.SQLFiles = append(r.SQLFiles, f)
		}
	}
	sort.Strings(r.SQLFiles)
}

func sortByName[T any](s []T, name func(T) string) {
	sort.SliceStable(s, func(i, j int) bool { return name(s[i]) < name(s[j]) })
}

// named checks a metadata.name; it reports false when the name is unusable.
func (l *loader) named(kind, name string, o Origin, env, app string) bool {
	if name == "" {
		return false // reported as a missing required field
	}
	if !isLabel(name) {
		l.errorf(o.File, o.LineOf("metadata.name"), RuleName, env, app,
			"metadata.name: %s name %q is not a DNS-1123 label: %s", kind, name, labelRule)
		return false
	}
	if (kind == KindFlinkStatement || kind == KindFlinkApplication) && len(validation.IsDNS1035Label(name)) > 0 {
		l.errorf(o.File, o.LineOf("metadata.name"), RuleName, env, app,
			"metadata.name: %s name %q must start with a letter: it becomes a Flink cluster id and the name of its Services (a DNS-1035 label)", kind, name)
		return false
	}
	if kind == KindFlinkStatement && len(name) > MaxStatementNameLength {
		l.errorf(o.File, o.LineOf("metadata.name"), RuleName, env, app,
			"metadata.name: FlinkStatement name %q is %d characters; at most %d: its CMF name is the name, '-' and %d hex digits of its SQL's hash, and CMF takes at most %d (see docs/sql.md)",
			name, len(name), MaxStatementNameLength, StatementHashLength, MaxCMFNameLength)
		return false
	}
	if kind == KindFlinkApplication && len(name) > MaxAppNameLength {
		l.errorf(o.File, o.LineOf("metadata.name"), RuleName, env, app,
			"metadata.name: FlinkApplication name %q is %d characters; Flink's Kubernetes cluster id (the name of the FlinkDeployment or FlinkApplication, and the prefix of its %q Service) may have at most %d",
			name, len(name), name+"-rest", MaxAppNameLength)
		return false
	}
	return true
}

// MaxAppNameLength is the longest application name: it becomes the Flink
// cluster id, which Flink limits to 45 characters (its
// Constants.MAXIMUM_CHARACTERS_OF_CLUSTER_ID) so that the derived Service
// names ("<id>-rest") stay within a 63-character DNS label.
const MaxAppNameLength = 45

func (l *loader) duplicate(kind, name string, o, prev Origin, env, app string) {
	l.errorf(o.File, o.LineOf("metadata.name"), RuleDuplicate, env, app,
		"metadata.name: %s %q is already declared at %s:%d; names must be unique per kind", kind, name, prev.File, prev.LineOf("metadata.name"))
}

func (l *loader) checkEnvironment(e *Environment) {
	name, o, s := e.Metadata.Name, e.Origin, &e.Spec
	bad := func(path string, rule *diag.Rule, format string, args ...any) {
		l.errorf(o.File, o.LineOf(path), rule, name, "", path+": "+format, args...)
	}
	if s.Namespace != "" {
		if !isLabel(s.Namespace) {
			bad("spec.namespace", RuleName, "namespace %q is not a DNS-1123 label: %s", s.Namespace, labelRule)
		}
	}
	if s.Cluster != "" && !isLabel(s.Cluster) {
		bad("spec.cluster", RuleName, "cluster %q is not a DNS-1123 label: %s", s.Cluster, labelRule)
	}
	if s.Nodes.CPU.Set && s.Nodes.CPU.Sign() == 0 {
		bad("spec.nodes.cpu", RuleInvalidValue, "must be more than zero")
	}
	if s.Nodes.Memory.Set && s.Nodes.Memory.Sign() == 0 {
		bad("spec.nodes.memory", RuleInvalidValue, "must be more than zero")
	}
	if o.has("spec.nodes.count") && s.Nodes.Count == 0 {
		bad("spec.nodes.count", RuleInvalidValue, "must be at least 1")
	}
	if s.ServiceAccount == "" {
		s.ServiceAccount = "flink"
	} else if errs := validation.IsDNS1123Subdomain(s.ServiceAccount); len(errs) > 0 {
		bad("spec.serviceAccount", RuleName, "%q is not a valid service account name: %s", s.ServiceAccount, strings.Join(errs, "; "))
	}
	if v := s.Defaults.FlinkVersion; v != "" && !contains(flinkVersions, v) {
		bad("spec.defaults.flinkVersion", RuleEnum, "%q is not one of %s", v, strings.Join(flinkVersions, ", "))
	}
	switch {
	case s.Target == TargetCFK && s.CFK == nil:
		bad("spec", RuleRequired, "missing required field \"cfk\" (cfk.cmfRestClassRef) for target cfk")
	case s.Target != TargetCFK && s.Target != "" && s.CFK != nil:
		bad("spec.cfk", RuleInvalidValue, "only meaningful for target cfk; remove it or set target: cfk")
	}
	l.checkCMF(e) // cmf.go
	if s.CFK != nil && s.CFK.CMFRestClassRef.Namespace == "" {
		s.CFK.CMFRestClassRef.Namespace = s.Namespace
	}
	if s.CFK != nil && s.CFK.CMFRest != nil && s.CFK.CMFRestClassRef.Namespace != s.Namespace {
		bad("spec.cfk.cmfRestClassRef.namespace", RuleInvalidValue,
			"a CMFRestClass that flinksync renders (spec.cfk.cmfRest) lives in the environment's namespace %q; remove the namespace or the cmfRest block", s.Namespace)
	}
	if s.SQLRunner != nil && s.SQLRunner.JarURI == "" {
		s.SQLRunner.JarURI = DefaultSQLRunnerJarURI
	}
	if s.SQLRunner != nil && s.Target != TargetFKO {
		bad("spec.sqlRunner", RuleInvalidValue, "only meaningful for target fko (on cfk, statements run on CMF compute pools); remove it")
	}
	if s.TLS != nil && s.TLS.MountPath == "" {
		s.TLS.MountPath = DefaultTLSMountPath
	}
	for i, a := range s.StateGuard.Acknowledge {
		at := fmt.Sprintf("spec.stateGuard.acknowledge[%d]", i)
		switch {
		case (a.App == "") == (a.Statement == ""):
			bad(at, RuleRequired, "name exactly one of app or statement: the job whose state may be lost")
		case !isLabel(a.Job()):
			bad(at, RuleName, "%q is not an app or statement name: %s", a.Job(), labelRule)
		}
	}
	if s.Sync.Drift == "" {
		s.Sync.Drift = DriftCorrect
	}
	report := l.reporter(o, "")
	checkIgnore(s.Sync.Ignore, o, "spec.sync.ignore", name, report)
	for i, p := range s.Sync.Presets {
		if !contains(IgnorePresets, p) {
			bad(fmt.Sprintf("spec.sync.presets[%d]", i), RuleEnum, "%q is not a preset; the presets are %s", p, strings.Join(IgnorePresets, ", "))
		}
	}
	if s.Sync.Presets == nil {
		s.Sync.Presets = IgnorePresets
	}
}

// Defaults the loader applies; docs/repo-format.md lists each.
const (
	// DefaultTLSMountPath is where the TLS secret is mounted in Flink pods.
	DefaultTLSMountPath = "/opt/flink/tls"
	// DefaultSlots is FKO's default taskmanager.numberOfTaskSlots.
	DefaultSlots = 1
	// DefaultAvgRecordBytes is the record size the sizing baseline assumes (reference/sizing.md).
	DefaultAvgRecordBytes = 512
)

var (
	// DefaultJobManagerCPU and DefaultJobManagerMemory are the JobManager of
	// FKO's basic example (1 CPU, 2048m).
	DefaultJobManagerCPU    = MustQuantity("1")
	DefaultJobManagerMemory = MustQuantity("2Gi")
	// DefaultLatency is the latency target when an app gives none: the
	// start of the "relaxed" class of reference/sizing.md.
	DefaultLatency = Duration{Duration: 5e9, Set: true}
	// DefaultRecoveryTarget is how long a restore may take when an app gives none.
	DefaultRecoveryTarget = Duration{Duration: 300e9, Set: true}
)

func (l *loader) checkPool(p *ComputePool) {
	name, o, s := p.Metadata.Name, p.Origin, &p.Spec
	bad := func(path string, rule *diag.Rule, format string, args ...any) {
		l.errorf(o.File, o.LineOf(path), rule, "", "", path+": "+format, args...)
	}
	if s.TaskManager.CPU.Set && s.TaskManager.CPU.Sign() == 0 {
		bad("spec.taskManager.cpu", RuleInvalidValue, "must be more than zero")
	}
	if s.TaskManager.Memory.Set && s.TaskManager.Memory.Sign() == 0 {
		bad("spec.taskManager.memory", RuleInvalidValue, "must be more than zero")
	}
	if s.TaskManager.LocalDisk.Set && s.TaskManager.LocalDisk.Sign() == 0 {
		bad("spec.taskManager.localDisk", RuleInvalidValue, "must be more than zero (leave it out for the default)")
	}
	if o.has("spec.taskManager.slots") && s.TaskManager.Slots == 0 {
		bad("spec.taskManager.slots", RuleInvalidValue, "must be at least 1")
	}
	if s.TaskManager.Slots == 0 {
		s.TaskManager.Slots = DefaultSlots
	}
	if s.Type == "" {
		s.Type = PoolDedicated
	}
	if !s.JobManager.CPU.Set {
		s.JobManager.CPU = DefaultJobManagerCPU
	} else if s.JobManager.CPU.Sign() == 0 {
		bad("spec.jobManager.cpu", RuleInvalidValue, "must be more than zero")
	}
	if !s.JobManager.Memory.Set {
		s.JobManager.Memory = DefaultJobManagerMemory
	} else if s.JobManager.Memory.Sign() == 0 {
		bad("spec.jobManager.memory", RuleInvalidValue, "must be more than zero")
	}
	for i, env := range s.Environments {
		if l.repo.envs[env] == nil {
			bad(fmt.Sprintf("spec.environments[%d]", i), RuleReference, "environment %q not found (pool %q)%s", env, name, l.known(KindEnvironment))
		}
	}
}

func (l *loader) checkPolicy(p *Policy) {
	o, s := p.Origin, &p.Spec
	bad := func(path string, rule *diag.Rule, format string, args ...any) {
		l.errorf(o.File, o.LineOf(path), rule, "", "", path+": "+format, args...)
	}
	for i, env := range s.RequireTLS {
		if l.repo.envs[env] == nil {
			bad(fmt.Sprintf("spec.requireTLS[%d]", i), RuleReference, "environment %q not found%s", env, l.known(KindEnvironment))
		}
	}
	for i, w := range s.Waivers {
		at := fmt.Sprintf("spec.waivers[%d]", i)
		if w.Rule != "" && !ruleID.MatchString(w.Rule) {
			bad(at+".rule", RuleInvalidValue, "%q is not a rule ID (like TLS-001 or CPU-004)", w.Rule)
		}
		if w.Environment != "" && l.repo.envs[w.Environment] == nil {
			bad(at+".environment", RuleReference, "environment %q not found%s", w.Environment, l.known(KindEnvironment))
		}
	}
	for i, id := range s.Unwaivable {
		if !ruleID.MatchString(id) {
			bad(fmt.Sprintf("spec.unwaivable[%d]", i), RuleInvalidValue, "%q is not a rule ID (like TLS-001 or CPU-004)", id)
		}
	}
}

const labelRule = "use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"

func isLabel(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

var ruleID = regexp.MustCompile(`^[A-Z]+-[0-9]{3}$`)

// known lists the declared names of a kind for "not found" messages.
func (l *loader) known(kind string) string {
	var names []string
	switch kind {
	case KindEnvironment:
		for n := range l.repo.envs {
			names = append(names, n)
		}
	case KindComputePool:
		for n := range l.repo.pools {
			names = append(names, n)
		}
	case KindKafkaCatalog:
		for n := range l.repo.catalogs {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return "; declared: " + strings.Join(names, ", ")
}

// KeyPath is the field path of key inside the map at path, as Origin.LineOf
// takes it: KeyPath("spec.flinkConfiguration", "state.backend.type").
func KeyPath(path, key string) string { return joinKey(path, key) }

// LoadPolicyFile reads a standalone Policy document, such as the daemon's
// own policy (--policy FILE). Problems come back as findings, as from Load,
// and then there is no policy; the error means the file cannot be read.
func LoadPolicyFile(file string) (*Policy, []*diag.Finding, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	l := &loader{repo: newRepository()}
	l.file(file, data)
	if len(l.findings) == 0 && (len(l.repo.Policies) != 1 || len(l.repo.Environments)+len(l.repo.Pools)+len(l.repo.Apps)+len(l.repo.Statements)+len(l.repo.Catalogs) > 0) {
		l.errorf(file, 1, RuleKind, "", "", "a policy file holds exactly one document of kind Policy")
	}
	if len(l.findings) == 0 {
		p := l.repo.Policies[0]
		for i, id := range p.Spec.Unwaivable {
			if !ruleID.MatchString(id) {
				at := fmt.Sprintf("spec.unwaivable[%d]", i)
				l.errorf(file, p.Origin.LineOf(at), RuleInvalidValue, "", "", "%s: %q is not a rule ID", at, id)
			}
		}
	}
	if len(l.findings) > 0 {
		diag.Sort(l.findings)
		return nil, l.findings, nil
	}
	return l.repo.Policies[0], nil, nil
}

// Compact drops what only the stages that read a repository whole need:
// the line of every field (LineOf gives the document's line after it),
// the effective forms per environment (EffectiveApps,
// EffectiveStatements and EffectiveCatalogs give none) and the files'
// documents (Reach says a file reaches every environment). The documents, their files and first
// lines stay, and the lookups by name. A holder that keeps a repository
// past the pipeline, as the daemon does between revisions, keeps it in
// less than half the memory: at 10,000 apps the field lines alone were
// 13 MB.
func (r *Repository) Compact() {
	settle := func(o *Origin) { *o = Origin{File: o.File, Line: o.Line} }
	for _, e := range r.Environments {
		settle(&e.Origin)
	}
	for _, p := range r.Pools {
		settle(&p.Origin)
	}
	for _, a := range r.Apps {
		settle(&a.Origin)
	}
	for _, p := range r.Policies {
		settle(&p.Origin)
	}
	for _, s := range r.Statements {
		settle(&s.Origin)
	}
	for _, c := range r.Catalogs {
		settle(&c.Origin)
	}
	r.effective, r.effectiveStatements, r.effectiveCatalogs, r.docs = nil, nil, nil, nil
}
