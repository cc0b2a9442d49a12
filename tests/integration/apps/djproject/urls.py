from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello),
    path("echo/", views.echo),
    path("protected/", views.protected),
]
