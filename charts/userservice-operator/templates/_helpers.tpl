{{/* Chart name, truncated to a DNS label. */}}
{{- define "userservice-operator.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, prefixed to the chart name unless it already contains it. */}}
{{- define "userservice-operator.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "userservice-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "userservice-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: userservice-operator
{{- end }}

{{/* Selector labels of the operator pods; never include the version, selectors are immutable. */}}
{{- define "userservice-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "userservice-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/* Name of the ServiceAccount the operator runs as. */}}
{{- define "userservice-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "userservice-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Operator image reference; the tag defaults to v<appVersion>. */}}
{{- define "userservice-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}

{{/* user-service image reference passed to --user-service-image; the tag defaults to v<appVersion>. */}}
{{- define "userservice-operator.userServiceImage" -}}
{{- printf "%s:%s" .Values.userServiceImage.repository (default (printf "v%s" .Chart.AppVersion) .Values.userServiceImage.tag) }}
{{- end }}

{{/*
Rules of the manager role, read from files/manager-role.yaml: a copy of
controller-gen's config/rbac/role.yaml made by `make helm-sync`, generated from
the +kubebuilder:rbac markers. Never edit the rules here or in that file.
*/}}
{{- define "userservice-operator.managerRules" -}}
{{- $role := .Files.Get "files/manager-role.yaml" | fromYaml }}
{{- if not $role.rules }}
{{- fail "files/manager-role.yaml has no rules: run `make manifests` to copy config/rbac/role.yaml into the chart" }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/* Name of the metrics Service. */}}
{{- define "userservice-operator.metricsService" -}}
{{- printf "%s-metrics" (include "userservice-operator.fullname" .) }}
{{- end }}

{{/* Name the metrics serving certificate is valid for, and that the ServiceMonitor verifies. */}}
{{- define "userservice-operator.metricsServerName" -}}
{{- printf "%s.%s.svc" (include "userservice-operator.metricsService" .) .Release.Namespace }}
{{- end }}

{{/* Name of the Secret holding the metrics serving certificate. */}}
{{- define "userservice-operator.metricsTLSSecret" -}}
{{- printf "%s-metrics-tls" (include "userservice-operator.fullname" .) }}
{{- end }}

{{/* Directory where the operator reads the metrics serving certificate. */}}
{{- define "userservice-operator.metricsCertDir" -}}
/tmp/k8s-metrics-server/metrics-certs
{{- end }}
