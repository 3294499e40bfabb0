# The shared settings of the Go packages first (their .mk files call its macro).
include $(BR2_EXTERNAL_MYPOLL_PATH)/package/mypoll-go.mk
include $(sort $(wildcard $(BR2_EXTERNAL_MYPOLL_PATH)/package/*/*.mk))
