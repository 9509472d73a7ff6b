package redact

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func parse(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const deployment = `
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata:
  name: app
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"spec":{"flinkConfiguration":{"s3.secret-key":"LASTAPPLIED"}}}'
spec:
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "4"
    kubernetes.secrets: tls:/opt/tls
    fs.azure.account.key.acct.blob.core.windows.net: AZUREKEY
    fs.azure.account.oauth2.client.secret: CLIENTSECRET
    basic.auth.user.info: app:USERINFO
    env.java.opts: -Xmx1g -Djavax.net.ssl.keyStorePassword=JVMPASS -Dfoo=bar
    state.checkpoints.dir: s3://user:URLPASS@bucket/ckpt
    s3.secret-key: 12345
  podTemplate:
    spec:
      containers:
        - name: flink-main-container
          args: ["--db-pass=ARGPASS", "--password", "ARGNEXT", "--parallelism", "4"]
          env:
            - name: DB_PASSWORD
              value: ENVPASS
            - name: LOG_LEVEL
              value: INFO
            - name: FROM_SECRET
              valueFrom:
                secretKeyRef: {name: db, key: password}
`

// marshal is v as JSON with < and > as they are.
func marshal(v any) []byte {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return []byte(strings.TrimSpace(b.String()))
}

func TestObjectMasksDeployment(t *testing.T) {
	obj := parse(t, deployment)
	before := marshal(obj)
	got := marshal(Object(obj))
	after := marshal(obj)
	if string(before) != string(after) {
		t.Fatal("Object changed its argument")
	}
	for _, s := range []string{"LASTAPPLIED", "AZUREKEY", "CLIENTSECRET", "USERINFO", "JVMPASS", "URLPASS", "12345", "ARGPASS", "ARGNEXT", "ENVPASS"} {
		if strings.Contains(string(got), s) {
			t.Errorf("%s is in the masked object:\n%s", s, got)
		}
	}
	for _, s := range []string{`"taskmanager.numberOfTaskSlots":"4"`, `"kubernetes.secrets":"tls:/opt/tls"`, `-Dfoo=bar`, `"--parallelism","4"`,
		`"value":"INFO"`, `"secretKeyRef":{"key":"password","name":"db"}`, `s3://user:<masked hmac:`, `-Djavax.net.ssl.keyStorePassword=<masked hmac:`} {
		if !strings.Contains(string(got), s) {
			t.Errorf("the masked object lost %s:\n%s", s, got)
		}
	}
}

func TestObjectMasksEverySecretValue(t *testing.T) {
	obj := parse(t, `
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {anything: aHVudGVyMg==, tls.crt: Q0VSVA==}
stringData: {config.json: '{"a":1}', n: 7}
`)
	m := Object(obj)
	for _, f := range []string{"data", "stringData"} {
		for k, v := range m[f].(map[string]any) {
			if s, _ := v.(string); !strings.HasPrefix(s, "<masked hmac:") {
				t.Errorf("%s.%s = %v, want a mask", f, k, v)
			}
		}
	}
	if m["metadata"].(map[string]any)["name"] != "s" {
		t.Error("metadata must stay")
	}
	if Object(nil) != nil {
		t.Error("Object(nil) must be nil")
	}
}

func TestFieldMasksAsObjectDoes(t *testing.T) {
	for _, c := range []struct {
		kind   string
		path   []string
		v      any
		masked bool
	}{
		{"Secret", []string{"data", "anything"}, "aHVudGVyMg==", true},
		{"Secret", []string{"data"}, map[string]any{"k": "aHVudGVyMg=="}, true},
		{"Secret", []string{"metadata", "labels", "team"}, "web", false},
		{"ConfigMap", []string{"data", "anything"}, "plain", false},
		{"FlinkDeployment", []string{"spec", "flinkConfiguration", "s3.secret-key"}, "x", true},
		{"FlinkDeployment", []string{"spec", "flinkConfiguration", "taskmanager.numberOfTaskSlots"}, "4", false},
		{"FlinkDeployment", []string{"metadata", "annotations", lastApplied}, `{"a":1}`, true},
	} {
		got := Field(c.kind, c.path, c.v)
		b := marshal(got)
		if isMasked := strings.Contains(string(b), "<masked hmac:"); isMasked != c.masked {
			t.Errorf("Field(%s, %v) = %s, masked %v, want %v", c.kind, c.path, b, isMasked, c.masked)
		}
		if !c.masked && !reflect.DeepEqual(got, c.v) {
			t.Errorf("Field(%s, %v) changed a plain value: %v", c.kind, c.path, got)
		}
	}
}

// BenchmarkObject masks a FlinkDeployment with inline secrets of every
// form, as every diff and drift record does.
func BenchmarkObject(b *testing.B) {
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(deployment), &obj); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Object(obj)
	}
}
