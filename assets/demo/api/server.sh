#!/bin/sh
echo "api listening on $(cat /app/api.conf)"
