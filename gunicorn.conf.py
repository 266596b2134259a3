# gunicorn reads this file from the directory it starts in: the Docker image's command, docker-compose.yml's and
# the README's all start there. The access log writes `<end user>` where an erasure's path names one.
logger_class = "expertloop.gunicorn_logger.AccessLogger"
