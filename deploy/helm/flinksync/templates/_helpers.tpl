{{/*
The chart's name, truncated to 63 characters (a DNS label).
*/}}
{{- define "flinksync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: the release name when it already
contains the chart's name, else <release>-<chart>; at most 63 characters.
*/}}
{{- define "flinksync.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flinksync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "flinksync.labels" -}}
helm.sh/chart: {{ include "flinksync.chart" . }}
{{ include "flinksync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flinksync
{{- end }}

{{/*
Labels that select the pods; never change them (a Deployment's selector is immutable).
*/}}
{{- define "flinksync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flinksync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flinksync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flinksync.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flinksync.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
"true" when the daemon runs with --leader-elect: leaderElection.enabled, or
when it is null, more than one replica.
*/}}
{{- define "flinksync.leaderElection" -}}
{{- $le := .Values.leaderElection.enabled }}
{{- if include "flinksync.sharding" . }}
{{- else if kindIs "invalid" $le }}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- else if $le }}true{{ end }}
{{- end }}

{{/*
The policy ConfigMap's name, when a policy is mounted.
*/}}
{{- define "flinksync.policyConfigMap" -}}
{{- .Values.policy.existingConfigMap | default (printf "%s-policy" (include "flinksync.fullname" .)) }}
{{- end }}

{{/*
PromQL label matchers for this release's series.
*/}}
{{- define "flinksync.promSelector" -}}
{{- .Values.prometheusRule.selector | default (printf "job=%q,namespace=%q" (include "flinksync.fullname" .) .Release.Namespace) }}
{{- end }}

{{/*
Paths inside the container. The daemon reads each of them once at start.
*/}}
{{- define "flinksync.paths.cache" -}}/var/cache/flinksync{{- end }}
{{- define "flinksync.paths.git" -}}/etc/flinksync/git{{- end }}
{{- define "flinksync.paths.webhook" -}}/etc/flinksync/webhook{{- end }}
{{- define "flinksync.paths.policy" -}}/etc/flinksync/policy{{- end }}
{{- define "flinksync.paths.keyring" -}}/etc/flinksync/keyring{{- end }}
{{- /* The clusters directory: one folder per cluster, read again before every round. */}}
{{- define "flinksync.paths.clusters" -}}/etc/flinksync/clusters{{- end }}

{{/*
Checks of values that the schema cannot express; included by the Deployment.
*/}}
{{- define "flinksync.validate" -}}
{{- if not .Values.git.repoURL }}
{{- fail "git.repoURL is required: the Git repository flinksync follows (--set git.repoURL=https://...)" }}
{{- end }}
{{- if not .Values.managedNamespaces }}
{{- fail "managedNamespaces is required: the namespaces of your environments (--set 'managedNamespaces={flink-dev,flink-prod}'); flinksync gets a Role in each and nowhere else" }}
{{- end }}
{{- if ne (len .Values.managedNamespaces) (len (uniq .Values.managedNamespaces)) }}
{{- fail (printf "managedNamespaces lists a namespace twice: %v" .Values.managedNamespaces) }}
{{- end }}
{{- $le := .Values.leaderElection.enabled }}
{{- if and (include "flinksync.sharding" .) $le }}
{{- fail "shards > 1 and leaderElection.enabled: choose one (with shards every replica syncs its share of the environments)" }}
{{- end }}
{{- if and (gt (int .Values.replicas) 1) (not (include "flinksync.sharding" .)) (not (kindIs "invalid" $le)) (not $le) }}
{{- fail "replicas > 1 needs leader election: set leaderElection.enabled to true or null (only the Lease holder may sync)" }}
{{- end }}
{{- with .Values.git.credentials }}
{{- if and .existingSecret (eq .type "ssh") (not .knownHostsKey) }}
{{- fail "git.credentials.knownHostsKey is required with type ssh: flinksync never skips host key checks" }}
{{- end }}
{{- end }}
{{- $clusterNames := list }}
{{- range .Values.clusters }}
{{- $clusterNames = append $clusterNames .name }}
{{- end }}
{{- if ne (len $clusterNames) (len (uniq $clusterNames)) }}
{{- fail (printf "clusters lists a cluster name twice: %v" $clusterNames) }}
{{- end }}
{{- if and .Values.policy.enabled (not .Values.policy.existingConfigMap) (not .Values.policy.document) }}
{{- fail "policy.enabled needs policy.existingConfigMap or policy.document" }}
{{- end }}
{{- end }}

{{/*
"true" when the daemon runs with --sharding: shards > 1.
*/}}
{{- define "flinksync.sharding" -}}
{{- if gt (int (.Values.shards | default 1)) 1 }}true{{ end }}
{{- end }}
