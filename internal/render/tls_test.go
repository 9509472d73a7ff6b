package render

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// podTemplate returns the pod template of one component of a rendered Flink
// object, decoded strictly into the Kubernetes type: a misspelt or
// misplaced field fails the decode.
func podTemplate(t *testing.T, o *Object, part string) *corev1.PodTemplateSpec {
	t.Helper()
	raw, ok := o.Object["spec"].(map[string]any)[part].(map[string]any)["podTemplate"]
	if !ok {
		t.Fatalf("%s: no spec.%s.podTemplate", o.ID(), part)
	}
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var pt corev1.PodTemplateSpec
	if err := dec.Decode(&pt); err != nil {
		t.Fatalf("%s: spec.%s.podTemplate is not a valid PodTemplateSpec: %v", o.ID(), part, err)
	}
	return &pt
}

func TestTLSPasswordComesFromSecret(t *testing.T) {
	files := baseFiles()
	files["envs/eu.yaml"] = strings.Replace(envCFK, "  cfk:\n", "  tls: {required: true, secretName: eu-tls}\n  cfk:\n", 1)
	for _, tc := range []struct{ env, kind, secret string }{
		{"prod", "FlinkDeployment", "prod-tls-password"},
		{"eu", "FlinkApplication", "eu-tls-password"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			o := find(t, renderEnv(t, files, tc.env, Options{}), tc.kind, "orders")
			conf, _ := o.Object["spec"].(map[string]any)["flinkConfiguration"].(map[string]any)
			for k := range conf {
				if strings.Contains(strings.ToLower(k), "password") {
					t.Errorf("flinkConfiguration holds %s: passwords must not be written into the object", k)
				}
			}
			for _, part := range []string{"jobManager", "taskManager"} {
				pt := podTemplate(t, o, part)
				checkPasswordWiring(t, pt, tc.secret)
			}
			// FKO must merge the repository's spec.podTemplate with these by
			// name: by position, its first init container or volume would be
			// merged into flinksync's.
			if tc.kind == "FlinkDeployment" && conf[KeyMergePodTemplatesByName] != "true" {
				t.Errorf("%s must be true where flinksync adds pod templates, got %v", KeyMergePodTemplatesByName, conf[KeyMergePodTemplatesByName])
			}
		})
	}
}

func checkPasswordWiring(t *testing.T, pt *corev1.PodTemplateSpec, secret string) {
	t.Helper()
	spec := pt.Spec
	if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != TLSInitContainer {
		t.Fatalf("want the init container %s, got %+v", TLSInitContainer, spec.InitContainers)
	}
	init := spec.InitContainers[0]
	if init.Image != "reg/orders:1.0" {
		t.Errorf("the init container must use the app's image, got %q", init.Image)
	}
	if len(init.Env) != 1 || init.Env[0].Name != TLSPasswordEnv || init.Env[0].Value != "" || init.Env[0].ValueFrom == nil ||
		init.Env[0].ValueFrom.SecretKeyRef == nil || init.Env[0].ValueFrom.SecretKeyRef.Name != secret ||
		init.Env[0].ValueFrom.SecretKeyRef.Key != TLSPasswordKey {
		t.Errorf("the password must come from secretKeyRef %s/%s only, got %+v", secret, TLSPasswordKey, init.Env)
	}
	mounts := map[string]string{}
	for _, m := range init.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts[FlinkConfigVolume] != tlsInitConfIn || mounts[TLSConfVolume] != tlsInitConfOut {
		t.Errorf("init container mounts %v", mounts)
	}
	if init.Resources.Limits.Cpu().IsZero() || init.Resources.Requests.Memory().IsZero() {
		t.Errorf("the init container needs requests and limits for namespaces with a ResourceQuota: %+v", init.Resources)
	}
	if len(spec.Containers) != 1 || spec.Containers[0].Name != MainContainer {
		t.Fatalf("want only Flink's main container in the template, got %+v", spec.Containers)
	}
	main := spec.Containers[0]
	if len(main.Env) != 1 || main.Env[0].Name != EnvFlinkConfDir || main.Env[0].Value != TLSConfDir {
		t.Errorf("the main container must read its configuration from %s: %+v", TLSConfDir, main.Env)
	}
	if len(main.VolumeMounts) != 1 || main.VolumeMounts[0].Name != TLSConfVolume || main.VolumeMounts[0].MountPath != TLSConfDir || !main.VolumeMounts[0].ReadOnly {
		t.Errorf("main container mounts %+v", main.VolumeMounts)
	}
	if len(spec.Volumes) != 1 || spec.Volumes[0].Name != TLSConfVolume || spec.Volumes[0].EmptyDir == nil ||
		spec.Volumes[0].EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("the configuration copy must live in an in-memory emptyDir: %+v", spec.Volumes)
	}
}

func TestNoPasswordWiringWithoutKeystores(t *testing.T) {
	files := baseFiles()
	files["envs/prod.yaml"] = strings.Replace(envFKO, "tls: {required: true, secretName: prod-tls}", "tls: {required: true}", 1)
	for _, env := range []string{"prod", "eu"} {
		for _, o := range renderEnv(t, files, env, Options{}).Objects {
			spec, _ := o.Object["spec"].(map[string]any)
			for _, part := range []string{"jobManager", "taskManager"} {
				if c, ok := spec[part].(map[string]any); ok && c["podTemplate"] != nil {
					t.Errorf("%s: %s: no keystores are rendered, so no password is delivered", env, o.ID())
				}
			}
		}
	}
}

// The init script runs here with /bin/sh, as in the Flink image (whose
// /bin/sh is dash, as on Debian), over a folder laid out like a ConfigMap
// volume. This proves what the script writes; it cannot prove that a Flink
// process accepts it, since no Flink distribution is available to tests.

type scriptRun struct {
	out    string // the folder the script wrote
	stderr string
	err    error
}

// runInitScript runs the init script over a ConfigMap-like folder holding
// files, with password in the environment.
func runInitScript(t *testing.T, files map[string]string, password string) scriptRun {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "conf-in"), filepath.Join(dir, "conf")
	data := filepath.Join(in, "..2026_11_21_12_00_00.000000001")
	for _, d := range []string{data, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(in, "..data")); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(in, name)); err != nil {
			t.Fatal(err)
		}
	}
	script := strings.NewReplacer(tlsInitConfIn, in, tlsInitConfOut, out).Replace(tlsInitScript)
	if script == tlsInitScript {
		t.Fatal("the script's folders were not replaced")
	}
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", TLSPasswordEnv + "=" + password}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return scriptRun{out: out, stderr: stderr.String(), err: err}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInitScriptWritesPasswordsIntoConfigYAML(t *testing.T) {
	// Flink 2.x: config.yaml is standard YAML. Characters that mean
	// something in YAML, the shell, printf or sed must come through as is.
	for _, pw := range []string{"s3cr3t", `it's #1: a "b" \n $HOME %s & | ; *`, "  spaces around  ", "-leading-dash", "null", "123"} {
		conf := "taskmanager.numberOfTaskSlots: 2\nsecurity.ssl.rest.key-password: 'kept'\n"
		r := runInitScript(t, map[string]string{"config.yaml": conf, "log4j-console.properties": "rootLogger.level = INFO\n"}, pw)
		if r.err != nil {
			t.Fatalf("password %q: the script failed: %v\n%s", pw, r.err, r.stderr)
		}
		if got := readFile(t, filepath.Join(r.out, "log4j-console.properties")); got != "rootLogger.level = INFO\n" {
			t.Errorf("the other configuration files must be copied, got %q", got)
		}
		var parsed map[string]any
		if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(r.out, "config.yaml"))), &parsed); err != nil {
			t.Fatalf("password %q: config.yaml no longer parses: %v", pw, err)
		}
		for _, k := range TLSPasswordKeys {
			want := pw
			if k == "security.ssl.rest.key-password" {
				want = "kept" // a key the configuration sets is left alone
			}
			if got, ok := parsed[k].(string); !ok || got != want {
				t.Errorf("password %q: %s = %#v, want %q", pw, k, parsed[k], want)
			}
		}
		if parsed["taskmanager.numberOfTaskSlots"] != float64(2) {
			t.Errorf("the operator's keys must stay: %v", parsed)
		}
	}
}

// legacyFlinkConf reads a flink-conf.yaml the way Flink 1.x does: one
// "key: value" a line, everything after '#' dropped, key and value trimmed.
func legacyFlinkConf(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

func TestInitScriptWritesPasswordsIntoFlinkConfYAML(t *testing.T) {
	pw := `p@ss: w'o"rd $x`
	r := runInitScript(t, map[string]string{"flink-conf.yaml": "parallelism.default: 4"}, pw) // no final newline
	if r.err != nil {
		t.Fatalf("the script failed: %v\n%s", r.err, r.stderr)
	}
	conf := legacyFlinkConf(readFile(t, filepath.Join(r.out, "flink-conf.yaml")))
	for _, k := range TLSPasswordKeys {
		if conf[k] != pw {
			t.Errorf("%s = %q, want %q", k, conf[k], pw)
		}
	}
	if conf["parallelism.default"] != "4" {
		t.Errorf("the operator's keys must stay: %v", conf)
	}
}

func TestInitScriptRefusesWhatFlinkWouldMisread(t *testing.T) {
	for _, tc := range []struct {
		files    map[string]string
		password string
		want     string
	}{
		{map[string]string{"flink-conf.yaml": "a: b\n"}, "has#hashXQ7", "'#'"},
		{map[string]string{"flink-conf.yaml": "a: b\n"}, " leadXQ7", "white space"},
		{map[string]string{"flink-conf.yaml": "a: b\n"}, "trailXQ7\t", "white space"},
		{map[string]string{"config.yaml": "a: b\n"}, "twoXQ7\nlines", "line break"},
		{map[string]string{"config.yaml": "a: b\n"}, "", "empty"},
		{map[string]string{"log4j-console.properties": "x\n"}, "pwXQ7", "no config.yaml or flink-conf.yaml"},
	} {
		r := runInitScript(t, tc.files, tc.password)
		if r.err == nil || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, TLSInitContainer) {
			t.Errorf("password %q with %v: want a failure saying %q, got %v %q", tc.password, tc.files, tc.want, r.err, r.stderr)
		}
		if tc.password != "" && strings.Contains(r.stderr, tc.password) {
			t.Errorf("the error message must not print the password: %q", r.stderr)
		}
	}
}
