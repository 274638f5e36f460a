from django import forms


class SettingsForm(forms.Form):
    model = forms.CharField(required=False)
    context_enabled = forms.BooleanField(required=False)
    instructions_enabled = forms.BooleanField(required=False)
    system_prompt = forms.CharField(required=False, widget=forms.Textarea)
