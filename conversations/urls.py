from django.urls import path

from . import views

app_name = "conversations"

urlpatterns = [
    path("", views.conversation_list, name="list"),
    path("<uuid:pk>/", views.conversation_detail, name="detail"),
    path("<uuid:pk>/export.json", views.export_json, name="export-json"),
    path("<uuid:pk>/export.md", views.export_markdown, name="export-markdown"),
    path("<uuid:pk>/delete/", views.conversation_delete, name="delete"),
]
