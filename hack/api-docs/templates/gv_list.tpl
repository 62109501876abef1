{{- define "gvList" -}}
{{- $groupVersions := . -}}

# API Reference

<!-- Generated from api/v1alpha1 by make manifests (crd-ref-docs, hack/api-docs): do not edit. -->

## Packages
{{- range $groupVersions }}
- {{ markdownRenderGVLink . }}
{{- end }}

{{ range $groupVersions }}
{{ template "gvDetails" . }}
{{ end }}

{{- end -}}
