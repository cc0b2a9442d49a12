import json

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def hello(request):
    return JsonResponse({"framework": "django", "path": request.path,
                         "q": request.GET.get("q"), "method": request.method})


@csrf_exempt
def echo(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    if request.content_type == "application/json":
        payload = json.loads(request.body.decode("utf-8"))
    else:
        payload = request.POST.dict()
    return JsonResponse({"received": payload, "method": request.method})


def protected(request):
    # not csrf_exempt: a POST without a token must be rejected by Django (403)
    return HttpResponse("protected ok")
