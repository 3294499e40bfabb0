include $(sort $(wildcard $(BR2_EXTERNAL_MYPOLL_PATH)/package/*/*.mk))
