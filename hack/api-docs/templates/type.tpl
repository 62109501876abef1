{{- define "type" -}}
{{- $type := . -}}
{{- if markdownShouldRenderType $type -}}

#### {{ $type.Name }}

{{ if $type.IsAlias }}_Underlying type:_ _{{ markdownRenderTypeLink $type.UnderlyingType  }}_{{ end }}

{{ template "escaped" $type.Doc }}

{{ if or $type.Validation (index $type.Markers "kubebuilder:validation:XValidation") -}}
_Validation:_
{{- range $type.Validation }}
- {{ . }}
{{- end }}
{{- range index $type.Markers "kubebuilder:validation:XValidation" }}
- {{ template "escaped" .Message }}
{{- end }}
{{- end }}

{{ if $type.References -}}
_Appears in:_
{{- range $type.SortedReferences }}
- {{ markdownRenderTypeLink . }}
{{- end }}
{{- end }}

{{ if $type.Members -}}
| Field | Description | Default | Validation |
| --- | --- | --- | --- |
{{ if $type.GVK -}}
| `apiVersion` _string_ | `{{ $type.GVK.Group }}/{{ $type.GVK.Version }}` | | |
| `kind` _string_ | `{{ $type.GVK.Kind }}` | | |
{{ end -}}

{{ range $type.Members -}}
| `{{ .Name  }}` _{{ markdownRenderType .Type }}_ | {{ template "type_members" . }} | {{ markdownRenderDefault .Default }} | {{ range .Validation -}} {{ markdownRenderFieldDoc . }} <br />{{ end }}{{ range index .Markers "kubebuilder:validation:XValidation" -}} {{ template "escaped" .Message }} <br />{{ end }} |
{{ end -}}

{{ end -}}

{{ if $type.EnumValues -}}
| Field | Description |
| --- | --- |
{{ range $type.EnumValues -}}
| `{{ .Name }}` | {{ markdownRenderFieldDoc .Doc }} |
{{ end -}}
{{ end -}}


{{- end -}}
{{- end -}}

{{- /* escaped renders a doc comment or a validation message in a table cell, with < and > shown as text. */ -}}
{{- define "escaped" -}}
{{ . | replace "<" "&lt;" | replace ">" "&gt;" | markdownRenderFieldDoc }}
{{- end -}}
