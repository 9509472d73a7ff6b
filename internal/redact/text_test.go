package redact

import (
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		// URL userinfo
		{"fetch https://user:tok3n@git.example.com/org/repo.git failed", "fetch https://user:<masked>@git.example.com/org/repo.git failed"},
		{"https://ghtoken1234@github.com/org/repo", "https://<masked>@github.com/org/repo"},
		{"jdbc:postgresql://app:pa@ss@db:5432/x", "jdbc:postgresql://app:<masked>@db:5432/x"},
		{"ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo.git"},
		{"https://github.com/org/repo.git", "https://github.com/org/repo.git"},
		// JVM properties, flags, key=value
		{"-Xmx1g -Djavax.net.ssl.keyStorePassword=changeit -Dfoo=bar", "-Xmx1g -Djavax.net.ssl.keyStorePassword=<masked> -Dfoo=bar"},
		{"-Dfs.azure.account.key.acct.blob.core.windows.net=AbC/dEf==", "-Dfs.azure.account.key.acct.blob.core.windows.net=<masked>"},
		{"--db-pass=hunter2 --db-user=app", "--db-pass=<masked> --db-user=app"},
		{"--password hunter2 --verbose", "--password <masked> --verbose"},
		{"--password --verbose", "--password --verbose"},
		{`PlainLoginModule required username="app" password="p w;d";`, `PlainLoginModule required username="app" password=<masked>;`},
		{"GET /x?token=abc123&page=2", "GET /x?token=<masked>&page=2"},
		{`{"password":"hunter2","user":"app"}`, `{"password":<masked>,"user":"app"}`},
		{"s3.secret-key: abc", "s3.secret-key: <masked>"},
		{`spec.password: Invalid value: "hunter2": must be an integer`, `spec.password: Invalid value: <masked>: must be an integer`},
		// headers and tokens
		{"Authorization: Bearer abc.def.ghi", "Authorization: <masked>"},
		{"authorization=Basic dXNlcjpwYXNz", "authorization=<masked>"},
		{"sent with Bearer 0123456789abcdefXYZ", "sent with Bearer <masked>"},
		{"key ghp_0123456789abcdefghijABCDEFGHIJ0123 leaked", "key <masked> leaked"},
		{"AKIAABCDEFGHIJKLMNOP", "<masked>"},
		{"a\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nb", "a\n<masked>\nb"},
		// near misses stay as they are
		{"taskmanager.numberOfTaskSlots: 4", "taskmanager.numberOfTaskSlots: 4"},
		{"kubernetes.secrets: tls:/opt/tls", "kubernetes.secrets: tls:/opt/tls"},
		{"secretName=flink-tls", "secretName=flink-tls"},
		{"a bearer token is required", "a bearer token is required"},
		{"password authentication failed for user app", "password authentication failed for user app"},
		{"s3.secret-key: <masked hmac:0123456789ab>", "s3.secret-key: <masked hmac:0123456789ab>"},
		{"https://user:<masked>@host", "https://user:<masked>@host"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestMask(t *testing.T) {
	a, b := Mask("hunter2"), Mask("hunter3")
	if a == b || a != Mask("hunter2") {
		t.Errorf("equal values must get equal masks and different values different ones: %s %s", a, b)
	}
	if !strings.HasPrefix(a, "<masked hmac:") || len(a) != len("<masked hmac:>")+2*maskBytes {
		t.Errorf("mask format: %s", a)
	}
	if Mask(42) != Mask("42") {
		t.Error("a number masks as its text")
	}
}

// benchSize is the text BenchmarkText masks.
var benchSize = 1 << 20

// BenchmarkText masks a 1 MB log of key=value pairs, one in ten secret: the
// cost must stay linear in the text.
func BenchmarkText(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < benchSize; i++ {
		if i%10 == 0 {
			sb.WriteString("password=hunter2 ")
		} else {
			sb.WriteString("key.name: value-of-it https://host/x ")
		}
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		Text(s)
	}
}

// TestTextKeepsMasks: text that holds masks, even JSON-escaped ones, keeps
// them as they are.
func TestTextKeepsMasks(t *testing.T) {
	for _, s := range []string{
		`["--db-pass=\u003cmasked hmac:e79dc4c3b0b6\u003e","--password"]`,
		`["--db-pass=<masked hmac:e79dc4c3b0b6>","--password","<masked hmac:90d88ae59a81>"]`,
		"password: <masked>",
	} {
		if got := Text(s); got != s {
			t.Errorf("Text(%q) = %q, want it unchanged", s, got)
		}
	}
}

func TestTextQuotedFlags(t *testing.T) {
	for in, want := range map[string]string{
		`job argument "--password hunter2" of "a"`:  `job argument "--password <masked>" of "a"`,
		`args ["--password", "hunter2", "--x"]`:     `args ["--password", "<masked>", "--x"]`,
		`run --token 'two words' --verbose`:         `run --token '<masked>' --verbose`,
		`(--password) is required, --password-file`: `(--password) is required, --password-file`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}
