from django.urls import path

from . import views

app_name = "frontend"

urlpatterns = [
    path("", views.avatar_list, name="avatar-list"),
    path("talk/<slug:slug>/", views.talk, name="talk"),
    path("talk/<slug:slug>/sessions/", views.start_session, name="start-session"),
]
