/*
 * Procedures of libvirt's remote program that vireod knows of but does
 * not implement, with the public API each one serves. A call to one is
 * answered as libvirtd answers an API its driver lacks:
 *
 *   error: this function is not supported by the connection driver: virDomainSave
 *
 * Numbers nobody knows get "unknown procedure: N" (dispatch.c). Both are
 * VIR_ERR_NO_SUPPORT, which clients treat as "not here" and go on: virsh
 * falls back to older calls, python-libvirt raises libvirtError.
 * Numbers from libvirt's src/remote/remote_protocol.x (ABI, never reused).
 */
#include <stddef.h>

#include "daemon/dispatch.h"
#include "lib/util.h"

static const struct {
	int proc;
	const char *api;
} unsupported[] = {
	{ 8, "virDomainAttachDevice" },
	{ 13, "virDomainDetachDevice" },
	{ 26, "virDomainPinVcpu" },
	{ 32, "virDomainSetVcpus" },
	{ 53, "virDomainCoreDump" },
	{ 54, "virDomainRestore" },
	{ 55, "virDomainSave" },
	{ 56, "virDomainGetSchedulerType" },
	{ 57, "virDomainGetSchedulerParameters" },
	{ 58, "virDomainSetSchedulerParameters" },
	{ 61, "virDomainMigratePrepare" },
	{ 62, "virDomainMigratePerform" },
	{ 63, "virDomainMigrateFinish" },
	{ 64, "virDomainBlockStats" },
	{ 65, "virDomainInterfaceStats" },
	{ 101, "virNodeGetCellsFreeMemory" },
	{ 102, "virNodeGetFreeMemory" },
	{ 103, "virDomainBlockPeek" },
	{ 104, "virDomainMemoryPeek" },
	{ 108, "virDomainMigratePrepare2" },
	{ 109, "virDomainMigrateFinish2" },
	{ 148, "virDomainMigratePrepareTunnel" },
	{ 160, "virDomainAttachDeviceFlags" },
	{ 161, "virDomainDetachDeviceFlags" },
	{ 163, "virDomainGetJobInfo" },
	{ 164, "virDomainAbortJob" },
	{ 166, "virDomainMigrateSetMaxDowntime" },
	{ 174, "virDomainUpdateDeviceFlags" },
	{ 182, "virDomainManagedSave" },
	{ 184, "virDomainManagedSaveRemove" },
	{ 185, "virDomainSnapshotCreateXML" },
	{ 186, "virDomainSnapshotGetXMLDesc" },
	{ 188, "virDomainSnapshotListNames" },
	{ 189, "virDomainSnapshotLookupByName" },
	{ 190, "virDomainHasCurrentSnapshot" },
	{ 191, "virDomainSnapshotCurrent" },
	{ 192, "virDomainRevertToSnapshot" },
	{ 193, "virDomainSnapshotDelete" },
	{ 194, "virDomainGetBlockInfo" },
	{ 197, "virDomainSetMemoryParameters" },
	{ 198, "virDomainGetMemoryParameters" },
	{ 199, "virDomainSetVcpusFlags" },
	{ 205, "virDomainSetBlkioParameters" },
	{ 206, "virDomainGetBlkioParameters" },
	{ 207, "virDomainMigrateSetMaxSpeed" },
	{ 210, "virDomainInjectNMI" },
	{ 211, "virDomainScreenshot" },
	{ 213, "virDomainMigrateBegin3" },
	{ 214, "virDomainMigratePrepare3" },
	{ 215, "virDomainMigratePrepareTunnel3" },
	{ 216, "virDomainMigratePerform3" },
	{ 217, "virDomainMigrateFinish3" },
	{ 218, "virDomainMigrateConfirm3" },
	{ 219, "virDomainSetSchedulerParametersFlags" },
	{ 223, "virDomainGetSchedulerParametersFlags" },
	{ 225, "virDomainPinVcpuFlags" },
	{ 226, "virDomainSendKey" },
	{ 227, "virNodeGetCPUStats" },
	{ 228, "virNodeGetMemoryStats" },
	{ 229, "virDomainGetControlInfo" },
	{ 232, "virDomainSaveFlags" },
	{ 233, "virDomainRestoreFlags" },
	{ 235, "virDomainSaveImageGetXMLDesc" },
	{ 236, "virDomainSaveImageDefineXML" },
	{ 237, "virDomainBlockJobAbort" },
	{ 238, "virDomainGetBlockJobInfo" },
	{ 239, "virDomainBlockJobSetSpeed" },
	{ 240, "virDomainBlockPull" },
	{ 242, "virDomainMigrateGetMaxSpeed" },
	{ 243, "virDomainBlockStatsFlags" },
	{ 244, "virDomainSnapshotGetParent" },
	{ 246, "virDomainSnapshotNumChildren" },
	{ 247, "virDomainSnapshotListChildrenNames" },
	{ 249, "virDomainOpenGraphics" },
	{ 250, "virNodeSuspendForDuration" },
	{ 251, "virDomainBlockResize" },
	{ 252, "virDomainSetBlockIoTune" },
	{ 253, "virDomainGetBlockIoTune" },
	{ 254, "virDomainSetNumaParameters" },
	{ 255, "virDomainGetNumaParameters" },
	{ 256, "virDomainSetInterfaceParameters" },
	{ 257, "virDomainGetInterfaceParameters" },
	{ 261, "virDomainPMSuspendForDuration" },
	{ 262, "virDomainGetCPUStats" },
	{ 263, "virDomainGetDiskErrors" },
	{ 264, "virDomainSetMetadata" },
	{ 265, "virDomainGetMetadata" },
	{ 266, "virDomainBlockRebase" },
	{ 267, "virDomainPMWakeup" },
	{ 271, "virDomainSnapshotIsCurrent" },
	{ 272, "virDomainSnapshotHasMetadata" },
	{ 275, "virDomainSnapshotListAllChildren" },
	{ 277, "virDomainGetHostname" },
	{ 278, "virDomainGetSecurityLabelList" },
	{ 279, "virDomainPinEmulator" },
	{ 280, "virDomainGetEmulatorPinInfo" },
	{ 288, "virNodeSetMemoryParameters" },
	{ 289, "virNodeGetMemoryParameters" },
	{ 290, "virDomainBlockCommit" },
	{ 294, "virDomainFSTrim" },
	{ 295, "virDomainSendProcessSignal" },
	{ 296, "virDomainOpenChannel" },
	{ 298, "virDomainGetJobStats" },
	{ 299, "virDomainMigrateGetCompressionCache" },
	{ 300, "virDomainMigrateSetCompressionCache" },
	{ 302, "virDomainMigrateBegin3Params" },
	{ 303, "virDomainMigratePrepare3Params" },
	{ 304, "virDomainMigratePrepareTunnel3Params" },
	{ 305, "virDomainMigratePerform3Params" },
	{ 306, "virDomainMigrateFinish3Params" },
	{ 307, "virDomainMigrateConfirm3Params" },
	{ 308, "virDomainSetMemoryStatsPeriod" },
	{ 309, "virDomainCreateXMLWithFiles" },
	{ 310, "virDomainCreateWithFiles" },
	{ 334, "virDomainCoreDumpWithFormat" },
	{ 335, "virDomainFSFreeze" },
	{ 336, "virDomainFSThaw" },
	{ 337, "virDomainGetTime" },
	{ 338, "virDomainSetTime" },
	{ 340, "virNodeGetFreePages" },
	{ 343, "virDomainOpenGraphicsFd" },
	{ 345, "virDomainBlockCopy" },
	{ 347, "virNodeAllocPages" },
};

const char *unsupported_api_name(int proc)
{
	for (size_t i = 0; i < ARRAY_SIZE(unsupported); i++)
		if (unsupported[i].proc == proc)
			return unsupported[i].api;
	return NULL;
}
