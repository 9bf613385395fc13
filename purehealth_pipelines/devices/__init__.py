"""Device credentials: who may publish sensor data, over MQTT (Mosquitto password/ACL files) and HTTP."""
