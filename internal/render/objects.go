package render

import (
	"math"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/flinksync/flinksync/internal/flinkconf"
	"github.com/flinksync/flinksync/internal/model"
	"github.com/flinksync/flinksync/internal/redact"
)

// FlinkRoleRules are exactly the rules of the `flink` Role that the FKO Helm
// chart gives the JobManager: pods and configmaps, and apps deployments with
// their finalizers, with these verbs.
var FlinkRoleRules = []RoleRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: flinkRoleVerbs},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/finalizers"}, Verbs: flinkRoleVerbs},
}

var flinkRoleVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// RoleRule is one rule of a Role.
type RoleRule struct {
	APIGroups []string
	Resources []string
	Verbs     []string
}

// builder renders the objects of one environment. What is the same for
// every object of the environment (or of a pool) is worked out once
// (envShared) and copied into each object: objects never share a map or a
// slice, since callers change them.
type builder struct {
	env  *model.Environment
	opts Options
	sh   *envShared
	// scriptBuf is where sqlScript writes, reused from statement to statement.
	scriptBuf []byte
}

// envShared is what every object of an environment is built from.
type envShared struct {
	// envName is the environment's name, held in an interface once: a
	// string stored into a map[string]any is otherwise boxed per object.
	envName any
	// layers are, per pool, the Flink configuration keys an app or SQL
	// runner job of that pool starts from (confLayer).
	layers map[*model.ComputePool][]confEntry
	// tlsDefaults and tlsMount are what tls adds to a Flink configuration.
	tlsDefaults []confEntry
	tlsMount    string
}

// confEntry is one Flink configuration key, its value boxed once.
type confEntry struct {
	key   string
	value any
}

// shared is b's envShared, worked out on first use.
func (b *builder) shared() *envShared {
	if b.sh == nil {
		sh := &envShared{envName: b.env.Metadata.Name, layers: map[*model.ComputePool][]confEntry{}}
		sh.tlsDefaults, sh.tlsMount = tlsSettings(b.env)
		b.sh = sh
	}
	return b.sh
}

func (b *builder) meta(kind, apiVersion, name, app string, appLabels map[string]string) *unstructured.Unstructured {
	// Built directly rather than with the Set* methods, which copy each
	// map they are given; the result is the same.
	labels := make(map[string]any, len(appLabels)+3)
	for k, v := range appLabels {
		labels[k] = v
	}
	labels[LabelManagedBy] = ManagedByValue
	labels[LabelEnvironment] = b.shared().envName
	if app != "" {
		labels[LabelName] = app
	}
	meta := make(map[string]any, 4)
	if name != "" {
		meta["name"] = name
	}
	if ns := b.env.Spec.Namespace; ns != "" {
		meta["namespace"] = ns
	}
	meta["labels"] = labels
	if b.opts.Revision != "" {
		meta["annotations"] = map[string]any{AnnRevision: b.opts.Revision}
	}
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": meta}}
}

func (b *builder) envObject(u *unstructured.Unstructured, path string) *Object {
	o := b.env.Origin
	return &Object{Unstructured: u, File: o.File, Line: o.LineOf(path)}
}

// rbac renders the JobManager's ServiceAccount, the FKO `flink` Role and
// the RoleBinding between them.
func (b *builder) rbac() []*Object {
	sa := b.env.Spec.ServiceAccount
	return []*Object{
		b.envObject(toUnstructured(b.serviceAccount(sa)), "spec.serviceAccount"),
		b.envObject(toUnstructured(b.flinkRole(sa)), "spec.serviceAccount"),
		b.envObject(toUnstructured(b.roleBinding(sa+"-role-binding", sa, sa)), "spec.serviceAccount"),
	}
}

// cmfRestClass renders the CMFRestClass a cfk environment declares.
func (b *builder) cmfRestClass() *Object {
	c := b.env.Spec.CFK
	u := b.meta(CMFRestClassGVK.Kind, CMFRestClassGVK.GroupVersion().String(), c.CMFRestClassRef.Name, "", nil)
	rest := map[string]any{
		"endpoint":       c.CMFRest.Endpoint,
		"authentication": map[string]any{"type": c.CMFRest.Authentication},
	}
	if c.CMFRest.TLSSecretRef != "" {
		rest["tls"] = map[string]any{"secretRef": c.CMFRest.TLSSecretRef}
	}
	u.Object["spec"] = map[string]any{"cmfRest": rest}
	return b.envObject(u, "spec.cfk.cmfRest")
}

// flinkEnvironment renders the CFK FlinkEnvironment of a cfk environment.
func (b *builder) flinkEnvironment() *Object {
	s := b.env.Spec
	u := b.meta(FlinkEnvironmentGVK.Kind, FlinkEnvironmentGVK.GroupVersion().String(), b.env.Metadata.Name, "", nil)
	u.Object["spec"] = map[string]any{
		"kubernetesNamespace":      s.Namespace,
		"flinkApplicationDefaults": b.applicationDefaults(),
		"cmfRestClassRef":          map[string]any{"name": s.CFK.CMFRestClassRef.Name, "namespace": s.CFK.CMFRestClassRef.Namespace},
	}
	return b.envObject(u, "spec.cfk")
}

// app renders one application: a FlinkDeployment (fko) or a FlinkApplication (cfk).
func (b *builder) app(app *model.EffectiveApp, res Resources) *Object {
	s := app.Spec
	gvk := FlinkDeploymentGVK
	if b.env.Spec.Target == model.TargetCFK {
		gvk = FlinkApplicationGVK
	}
	u := b.meta(gvk.Kind, gvk.GroupVersion().String(), app.Name, app.Name, app.App.Metadata.Labels)

	resourceOf := resource
	if gvk == FlinkApplicationGVK {
		resourceOf = cfkResource
	}
	spec := map[string]any{
		"image":              s.Image,
		"flinkVersion":       s.FlinkVersion,
		"serviceAccount":     b.env.Spec.ServiceAccount,
		"mode":               string(s.Mode),
		"flinkConfiguration": b.flinkConfiguration(app.Pool, app.Spec.FlinkConfiguration, res, 0),
		"jobManager": map[string]any{
			"resource": resourceOf(res.JobManagerCPU, res.JobManagerMemory),
		},
		"taskManager": map[string]any{
			"resource": resourceOf(res.TaskManagerCPU, res.TaskManagerMemory),
			"replicas": int64(res.TaskManagers),
		},
		"job": b.job(s.Job, res),
	}
	if s.ImagePullPolicy != "" {
		spec["imagePullPolicy"] = s.ImagePullPolicy
	}
	if tlsPasswordsDelivered(b.env) {
		// Both components get the password wiring: in native mode the
		// JobManager creates the TaskManager pods from the taskManager
		// template, in standalone mode the operator does.
		for _, part := range []string{"jobManager", "taskManager"} {
			spec[part].(map[string]any)["podTemplate"] = podTemplateMap(b.tlsPodTemplate(s.Image, s.ImagePullPolicy))
		}
	}
	if gvk == FlinkApplicationGVK {
		// CFK reads the environment's defaults itself; the app carries only
		// its own configuration on top of them.
		spec["flinkEnvironment"] = b.env.Metadata.Name
		ref := b.env.Spec.CFK.CMFRestClassRef
		spec["cmfRestClassRef"] = map[string]any{"name": ref.Name, "namespace": ref.Namespace}
	}
	u.Object["spec"] = spec
	return &Object{Unstructured: u, App: app.Name, File: app.Origin.File, Line: app.Origin.Line, Ignore: app.Spec.Ignore}
}

func (b *builder) job(j model.Job, res Resources) map[string]any {
	job := map[string]any{
		"jarURI":      j.JarURI,
		"parallelism": int64(res.Parallelism()),
		"upgradeMode": string(j.UpgradeMode),
		"state":       string(j.State),
	}
	if j.EntryClass != "" {
		job["entryClass"] = j.EntryClass
	}
	if len(j.Args) > 0 {
		job["args"] = strs(j.Args)
	}
	if j.InitialSavepointPath != "" {
		job["initialSavepointPath"] = j.InitialSavepointPath
	}
	if j.AllowNonRestoredState != nil {
		job["allowNonRestoredState"] = *j.AllowNonRestoredState
	}
	return job
}

// flinkConfiguration merges, in order: the environment's defaults, the
// keys of pool (nil for none), the object's own keys, then the keys sizing
// owns, then TLS. For cfk, the environment's defaults travel in the
// FlinkEnvironment instead. extra is room for keys the caller adds.
func (b *builder) flinkConfiguration(pool *model.ComputePool, own model.FlinkConfiguration, res Resources, extra int) map[string]any {
	layer := b.confLayer(pool)
	conf := make(map[string]any, len(layer)+len(own)+len(b.shared().tlsDefaults)+3+extra)
	for _, e := range layer {
		conf[e.key] = e.value
	}
	for k, v := range own {
		conf[k] = v
	}
	conf[KeySlots] = strconv.Itoa(res.Slots)
	_, inEnv := b.env.Spec.Defaults.FlinkConfiguration[KeyCheckpointInterval]
	if _, set := conf[KeyCheckpointInterval]; !set && !inEnv && res.CheckpointInterval > 0 {
		conf[KeyCheckpointInterval] = FlinkDuration(res.CheckpointInterval)
	}
	if b.env.Spec.Target == model.TargetFKO {
		b.tls(conf)
	}
	return conf
}

// confLayer is what flinkConfiguration starts from for an object of pool:
// on fko the environment's defaults, then the pool's keys. It is merged once
// per pool and Render; every object copies it into a map of its own.
func (b *builder) confLayer(pool *model.ComputePool) []confEntry {
	layers := b.shared().layers
	if layer, ok := layers[pool]; ok {
		return layer
	}
	merged := model.FlinkConfiguration{}
	if b.env.Spec.Target == model.TargetFKO {
		for k, v := range b.env.Spec.Defaults.FlinkConfiguration {
			merged[k] = v
		}
	}
	if pool != nil {
		for k, v := range pool.Spec.FlinkConfiguration {
			merged[k] = v
		}
	}
	layer := make([]confEntry, 0, len(merged))
	for _, k := range sortedKeys(merged) {
		layer = append(layer, confEntry{k, merged[k]})
	}
	layers[pool] = layer
	return layer
}

// TLSEnabled reports whether flinksync renders TLS settings for env.
func TLSEnabled(env *model.Environment) bool {
	t := env.Spec.TLS
	return t != nil && (t.Required || t.SecretName != "")
}

// Keystore and truststore file names inside the mounted TLS secret: the
// names cert-manager uses when it writes PKCS#12 stores into a
// kubernetes.io/tls secret (keystores.pkcs12.create).
const (
	KeystoreFile   = "keystore.p12"
	TruststoreFile = "truststore.p12"
)

// tls adds Flink's internal and REST TLS keys and mounts the certificate
// secret with kubernetes.secrets (tlsSettings).
func (b *builder) tls(conf map[string]any) {
	// A key the repository sets itself is kept, even one that turns TLS
	// off: policy (TLS-001) then reports it at its line instead of
	// flinksync overriding it silently.
	sh := b.shared()
	for _, e := range sh.tlsDefaults {
		if _, ok := conf[e.key]; !ok {
			conf[e.key] = e.value
		}
	}
	if sh.tlsMount == "" {
		return
	}
	mount := sh.tlsMount
	if cur, _ := conf["kubernetes.secrets"].(string); cur != "" && !strings.Contains(cur, mount) {
		mount = cur + "," + mount
	}
	conf["kubernetes.secrets"] = mount
}

// tlsSettings are the keys tls sets in env's Flink configurations unless
// they are set, and the secret mount it adds to kubernetes.secrets ("" for
// none). With TLS but no secret, only the enabled keys: policy TLS-002
// reports the missing secret.
func tlsSettings(env *model.Environment) (defaults []confEntry, mount string) {
	if !TLSEnabled(env) {
		return nil, ""
	}
	t := env.Spec.TLS
	defaults = []confEntry{{"security.ssl.internal.enabled", "true"}, {"security.ssl.rest.enabled", "true"}}
	if t.SecretName == "" {
		return defaults, ""
	}
	ks, ts := t.MountPath+"/"+KeystoreFile, t.MountPath+"/"+TruststoreFile
	defaults = append(defaults,
		confEntry{"security.ssl.internal.keystore", ks},
		confEntry{"security.ssl.internal.truststore", ts},
		confEntry{"security.ssl.rest.keystore", ks},
		confEntry{"security.ssl.rest.truststore", ts},
		// The password's pod templates (tlsPodTemplate) sit in the
		// jobManager and taskManager templates; FKO merges those with
		// spec.podTemplate array element by array element, so an init
		// container, container or volume of the repository's
		// spec.podTemplate would be merged into flinksync's. By name, each
		// keeps its own.
		confEntry{KeyMergePodTemplatesByName, "true"},
	)
	return defaults, t.SecretName + ":" + t.MountPath
}

// KeyMergePodTemplatesByName makes FKO merge the pod templates' arrays
// (containers, initContainers, volumes) by name instead of by position.
const KeyMergePodTemplatesByName = "kubernetes.operator.pod-template.merge-arrays-by-name"

// Keystore and truststore passwords (docs/tls.md). Flink reads them only
// from its configuration, which the operator writes into a ConfigMap, and
// policy TLS-003 forbids writing them there. Neither Flink nor the Flink
// image reads a configuration value from an environment variable in a way
// that survives the operator's read-only ConfigMap mount, so flinksync
// renders, for the JobManager and the TaskManager pods alike:
//
//   - an init container (the app's own image, so no other image is pulled)
//     that copies the operator's configuration files from Flink's ConfigMap
//     volume into an in-memory emptyDir and appends the password keys, the
//     password coming from the Secret <tls.secretName>-password (key
//     "password") through a secretKeyRef;
//   - FLINK_CONF_DIR on the main container, pointing at that copy, which
//     Flink's start scripts and entry points read their configuration from.
//
// The password never appears in Git, in the FlinkDeployment or in any
// ConfigMap; it exists in the Secret and, at run time, in the pod's memory.
const (
	// TLSPasswordSecretSuffix names the Secret holding the keystore,
	// truststore and key password: <spec.tls.secretName>-password, the
	// Secret cert-manager's keystores.pkcs12.passwordSecretRef points at.
	TLSPasswordSecretSuffix = "-password"
	// TLSPasswordKey is the key of the password in that Secret.
	TLSPasswordKey = "password"
	// TLSInitContainer is the name of the init container that writes the
	// passwords into the pod's copy of the Flink configuration.
	TLSInitContainer = "flinksync-tls-config"
	// TLSConfVolume is the in-memory emptyDir holding that copy.
	TLSConfVolume = "flinksync-flink-conf"
	// TLSConfDir is where the main container mounts the copy; FLINK_CONF_DIR
	// points there.
	TLSConfDir = "/opt/flink/flinksync-conf"
	// TLSPasswordEnv is the init container's environment variable that
	// holds the password.
	TLSPasswordEnv = "FLINKSYNC_TLS_PASSWORD"
	// EnvFlinkConfDir is the environment variable Flink's scripts and
	// Kubernetes entry points read the configuration directory from.
	EnvFlinkConfDir = "FLINK_CONF_DIR"
	// FlinkConfigVolume is the volume through which Flink and FKO mount the
	// operator's flink-config-<cluster> ConfigMap (Flink's
	// Constants.FLINK_CONF_VOLUME).
	FlinkConfigVolume = "flink-config-volume"
	// MainContainer is the name of Flink's main container in pod templates.
	MainContainer = "flink-main-container"
)

// TLSPasswordKeys are the Flink keys the init container writes, all with the
// one password: cert-manager protects the keystore, the truststore and the
// private key in them with the password of passwordSecretRef.
var TLSPasswordKeys = []string{
	"security.ssl.internal.keystore-password",
	"security.ssl.internal.truststore-password",
	"security.ssl.internal.key-password",
	"security.ssl.rest.keystore-password",
	"security.ssl.rest.truststore-password",
	"security.ssl.rest.key-password",
}

// TLSPasswordSecret is the name of env's password Secret, or "" when
// flinksync renders no TLS stores for env.
func TLSPasswordSecret(env *model.Environment) string {
	if !tlsPasswordsDelivered(env) {
		return ""
	}
	return env.Spec.TLS.SecretName + TLSPasswordSecretSuffix
}

// tlsPasswordsDelivered reports whether flinksync renders keystores for env,
// and so must deliver their password.
func tlsPasswordsDelivered(env *model.Environment) bool {
	return TLSEnabled(env) && env.Spec.TLS.SecretName != ""
}

// Paths inside the init container.
const (
	tlsInitConfIn  = "/flinksync/conf-in"
	tlsInitConfOut = "/flinksync/conf"
)

// tlsInitScript runs in the init container with POSIX sh (the Flink image's
// /bin/sh). It copies the operator's configuration and appends each
// password key the configuration does not set already. Flink 2.x reads
// config.yaml, a standard YAML file: the value is single-quoted. Flink 1.x
// reads flink-conf.yaml with a line parser that cuts a line at '#' and
// trims spaces and knows no quoting: such passwords are refused with a
// message rather than silently truncated.
var tlsInitScript = `set -eu
in=` + tlsInitConfIn + ` out=` + tlsInitConfOut + `
p="${` + TLSPasswordEnv + `:-}"
fail() { echo "flinksync-tls-config: $*" >&2; exit 1; }
[ -n "$p" ] || fail "the password Secret's key is empty"
case "$p" in *'
'*) fail "the password contains a line break" ;; esac
cp -L "$in"/* "$out"/
if [ -f "$out/config.yaml" ]; then
  f="$out/config.yaml"
  v="'$(printf '%s' "$p" | sed "s/'/''/g")'"
elif [ -f "$out/flink-conf.yaml" ]; then
  f="$out/flink-conf.yaml"
  case "$p" in *'#'*|[[:space:]]*|*[[:space:]]) fail "flink-conf.yaml (Flink 1.x) cannot hold a password with '#' or leading or trailing white space" ;; esac
  v="$p"
else
  fail "no config.yaml or flink-conf.yaml in $in"
fi
printf '\n' >> "$f"
for k in ` + strings.Join(TLSPasswordKeys, " ") + `; do
  grep -q "^$k:" "$f" || printf '%s: %s\n' "$k" "$v" >> "$f"
done
`

// tlsPodTemplate is the pod template that delivers the TLS password to one
// Flink component; image is the app's image, so the init container needs
// nothing the pod does not pull already. It is typed (core/v1) until the
// custom resource embeds it (podTemplateMap).
func (b *builder) tlsPodTemplate(image, pullPolicy string) *corev1.PodTemplateSpec {
	init := corev1.Container{
		Name:    TLSInitContainer,
		Image:   image,
		Command: []string{"/bin/sh", "-c", tlsInitScript},
		Env: []corev1.EnvVar{{
			Name: TLSPasswordEnv,
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: TLSPasswordSecret(b.env)}, Key: TLSPasswordKey,
			}},
		}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: FlinkConfigVolume, MountPath: tlsInitConfIn, ReadOnly: true},
			{Name: TLSConfVolume, MountPath: tlsInitConfOut},
		},
		// Small and fixed: namespaces with a ResourceQuota refuse containers
		// without requests and limits. An init container's requests do not
		// add to the pod's (the pod requests the larger of the two).
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: tlsInitCPU, corev1.ResourceMemory: tlsInitMemory},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: tlsInitCPU, corev1.ResourceMemory: tlsInitMemory},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		ImagePullPolicy: corev1.PullPolicy(pullPolicy),
	}
	main := corev1.Container{
		Name: MainContainer,
		Env:  []corev1.EnvVar{{Name: EnvFlinkConfDir, Value: TLSConfDir}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: TLSConfVolume, MountPath: TLSConfDir, ReadOnly: true},
		},
	}
	return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{init},
		Containers:     []corev1.Container{main},
		Volumes: []corev1.Volume{{
			Name: TLSConfVolume,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
				Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(tlsConfVolumeSize),
			}},
		}},
	}}
}

// Resources of the init container and size of the in-memory volume: a
// shell, cp, sed and grep over a few kilobytes of configuration.
var (
	tlsInitCPU        = k8sresource.MustParse("100m")
	tlsInitMemory     = k8sresource.MustParse("32Mi")
	tlsConfVolumeSize = k8sresource.MustParse("8Mi")
)

// resource is the jobManager/taskManager resource of an FKO
// FlinkDeployment: cpu a number of cores, memory a Flink memory size.
func resource(cpu float64, memory int64) map[string]any {
	return map[string]any{"cpu": cpu, "memory": FlinkMemory(memory)}
}

// cfkResource is the jobManager/taskManager resource of a CFK 3.3
// FlinkApplication, a map of int-or-string quantities: cpu an integer when
// whole, else a quantity string ([CFKCPU]); memory the same Flink memory
// size as for FKO ("2048m"), a string the quantity pattern accepts.
func cfkResource(cpu float64, memory int64) map[string]any {
	return map[string]any{"cpu": CFKCPU(cpu), "memory": FlinkMemory(memory)}
}

// CFKCPU formats cores as a CFK 3.3 int-or-string quantity: an int64 when
// whole (1), else milli-cores ("500m"), else, below a milli-core's
// precision, a decimal string ("0.0005"). Never a float: the CFK schema
// refuses `cpu: 0.5`.
func CFKCPU(cores float64) any {
	if cores == math.Trunc(cores) && math.Abs(cores) < 1<<53 {
		return int64(cores)
	}
	milli := cores * 1000
	if r := math.Round(milli); math.Abs(milli-r) < 1e-6 {
		return strconv.FormatInt(int64(r), 10) + "m"
	}
	return strconv.FormatFloat(cores, 'f', -1, 64)
}

// FlinkMemory formats bytes the way Flink reads memory sizes ("8192m";
// flinkconf.FormatMemory).
func FlinkMemory(bytes int64) string { return flinkconf.FormatMemory(bytes) }

// FlinkDuration formats a duration the way Flink reads it ("30 s", "500 ms";
// flinkconf.FormatDuration).
func FlinkDuration(d time.Duration) string { return flinkconf.FormatDuration(d) }

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// stringMap is m as a map[string]any, with room for extra more keys.
func stringMap(m map[string]string, extra int) map[string]any {
	out := make(map[string]any, len(m)+extra)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SecretKey reports whether a Flink configuration key holds a secret value
// (a password, a token, a secret key or a JAAS config): policy forbids
// writing one inline (TLS-003), and diffs mask them. The list is
// internal/redact's, the one every output masks by.
func SecretKey(key string) bool { return redact.Key(key) }
