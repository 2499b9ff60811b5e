import PostgresBackend
import PostgresTestSupport
import Testing

// The conformance suite and the domain tests against PostgreSQL: the same test bodies
// as the parameterized SQLite runs, one test each, so a machine without a server
// reports every one of them as skipped (never as passed). `.ci/run` starts a server
// and sets PIGEONHOLE_TEST_DATABASE_URL, so there they run.

let postgresConfigured = TestPostgres.serverURL != nil
let noPostgres: Comment = "no PostgreSQL: set PIGEONHOLE_TEST_DATABASE_URL to a server's URL (.ci/run starts one)"

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(2)))
struct PostgresStoreConformanceTests {
    let factory = PostgresStoreFactory()
    @Test func aCompletionFindsItsEffectsCommitted() throws { try StoreConformanceTests().aCompletionFindsItsEffectsCommitted(factory) }
    @Test func aFailedUnitLeavesNothing() throws { try StoreConformanceTests().aFailedUnitLeavesNothing(factory) }
    @Test func aSnapshotDoesNotSeeACommitMadeDuringIt() throws { try StoreConformanceTests().aSnapshotDoesNotSeeACommitMadeDuringIt(factory) }
    @Test func seqsStayGaplessUnderConcurrentSenders() throws { try StoreConformanceTests().seqsStayGaplessUnderConcurrentSenders(factory) }
    @Test func twoStoresOnOneDatabaseKeepEverySequenceExact() throws { try StoreConformanceTests().twoStoresOnOneDatabaseKeepEverySequenceExact(factory) }
    @Test func uniqueKeysAndForwardOnlyMarkersHoldAcrossStores() throws { try StoreConformanceTests().uniqueKeysAndForwardOnlyMarkersHoldAcrossStores(factory) }
    @Test func theCommitPositionIsNonDecreasing() throws { try StoreConformanceTests().theCommitPositionIsNonDecreasing(factory) }
    @Test func concurrentSendsWithOneKeyThroughTwoStoresMakeOneMessage() throws { try StoreConformanceTests().concurrentSendsWithOneKeyThroughTwoStoresMakeOneMessage(factory) }
    @Test func unitsTakingRowsInOppositeOrdersOnTwoStoresBothComplete() throws { try StoreConformanceTests().unitsTakingRowsInOppositeOrdersOnTwoStoresBothComplete(factory) }
    @Test func anAppendWithATakenKeyReturnsTheOriginal() throws { try StoreConformanceTests().anAppendWithATakenKeyReturnsTheOriginal(factory) }
    @Test func aUnitAfterStopFailsShuttingDown() throws { try StoreConformanceTests().aUnitAfterStopFailsShuttingDown(factory) }
    @Test func domainErrorsPassThroughUnchanged() throws { try StoreConformanceTests().domainErrorsPassThroughUnchanged(factory) }
    @Test func aMemberJoiningDuringSendsGetsExactlyTheMessagesAfterTheJoin() throws { try StoreConformanceTests().aMemberJoiningDuringSendsGetsExactlyTheMessagesAfterTheJoin(factory) }
    @Test func sendsWithOneKeyInOneBatchMakeOneMessage() throws { try StoreConformanceTests().sendsWithOneKeyInOneBatchMakeOneMessage(factory) }
    @Test func aUnitFailingAfterItsSendLeavesTheOtherSendsOfItsBatchWhole() throws { try StoreConformanceTests().aUnitFailingAfterItsSendLeavesTheOtherSendsOfItsBatchWhole(factory) }
    @Test func acksForSeveralDevicesAtOnceOnlyMoveForward() throws { try StoreConformanceTests().acksForSeveralDevicesAtOnceOnlyMoveForward(factory) }
    @Test func rateBucketsAreSharedByTheStoresOfOneDatabase() throws { try StoreConformanceTests().rateBucketsAreSharedByTheStoresOfOneDatabase(factory) }
    @Test func sendsTakeFromTheirBucketInTheSameUnit() throws { try StoreConformanceTests().sendsTakeFromTheirBucketInTheSameUnit(factory) }
    @Test func editsAndRecallsUnderConcurrentSendsKeepSeqsGapless() throws { try StoreConformanceTests().editsAndRecallsUnderConcurrentSendsKeepSeqsGapless(factory) }
    @Test func aRecallRacingReadsNeverShowsTheTextAfterItsCommit() throws { try StoreConformanceTests().aRecallRacingReadsNeverShowsTheTextAfterItsCommit(factory) }
    @Test func unreadCountsMessagesNotChanges() throws { try StoreConformanceTests().unreadCountsMessagesNotChanges(factory) }
    @Test func reactionsAreCountedAndFlushedOncePerMessage() throws { try StoreConformanceTests().reactionsAreCountedAndFlushedOncePerMessage(factory) }
    @Test func canonicallyEquivalentKeysAreOneReaction() throws { try StoreConformanceTests().canonicallyEquivalentKeysAreOneReaction(factory) }
    @Test func changeSeqsAreTheChangeRowsOfEachRange() throws { try StoreConformanceTests().changeSeqsAreTheChangeRowsOfEachRange(factory) }
    @Test func previewsOfManyRoomsAreEachRoomsNewestMessages() throws { try StoreConformanceTests().previewsOfManyRoomsAreEachRoomsNewestMessages(factory) }
    @Test func aPageOfKeysReadsAsEachKeyAlone() throws { try StoreConformanceTests().aPageOfKeysReadsAsEachKeyAlone(factory) }
    @Test func aRunLongerThanOneReadComesBackWhole() throws { try StoreConformanceTests().aRunLongerThanOneReadComesBackWhole(factory) }
    @Test func erasingAUserTombstonesTheirMessagesAndReactions() throws { try StoreConformanceTests().erasingAUserTombstonesTheirMessagesAndReactions(factory) }
    @Test func aChangeNeverShowsAMemberWhatWasSaidBeforeTheyJoined() throws { try StoreConformanceTests().aChangeNeverShowsAMemberWhatWasSaidBeforeTheyJoined(factory) }
    @Test func anErasureEndsWhenRetentionPrunedTheMessagesReactedTo() throws { try StoreConformanceTests().anErasureEndsWhenRetentionPrunedTheMessagesReactedTo(factory) }
}

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(2)))
struct PostgresDomainTests {
    let factory = PostgresStoreFactory()
    @Test func sendAndPullExactlyOnceInOrder() throws { try DomainTests().sendAndPullExactlyOnceInOrder(factory) }
    @Test func readMarkersAndUnread() throws { try DomainTests().readMarkersAndUnread(factory) }
    @Test func aHotRoomIsMergedIntoThePull() throws { try DomainTests().aHotRoomIsMergedIntoThePull(factory) }
    @Test func aDepartedMemberSeesNoChangeOfAMessageFromBeforeTheirJoin() throws {
        try DomainTests().aDepartedMemberSeesNoChangeOfAMessageFromBeforeTheirJoin(factory)
    }
    @Test func changesOfAnEarlierStaysMessagesReachAMemberAddedBack() throws {
        try DomainTests().changesOfAnEarlierStaysMessagesReachAMemberAddedBack(factory)
    }
    @Test func anIdempotentResendReturnsTheOriginal() throws { try DomainTests().anIdempotentResendReturnsTheOriginal(factory) }
    @Test func retentionExpiresOldCursorsAndKeepsUnread() throws { try DomainTests().retentionExpiresOldCursorsAndKeepsUnread(factory) }
    @Test func historyRetentionExpiresHotRoomPositions() throws { try DomainTests().historyRetentionExpiresHotRoomPositions(factory) }
    @Test func receiptsAreEmittedOncePerSenderAndWindow() throws { try DomainTests().receiptsAreEmittedOncePerSenderAndWindow(factory) }
    @Test func joinsAndLeavesKeepTheirRulesAndEvents() throws { try DomainTests().joinsAndLeavesKeepTheirRulesAndEvents(factory) }
    @Test func aLaggingDeviceGetsEveryStayInAHotRoom() throws { try DomainTests().aLaggingDeviceGetsEveryStayInAHotRoom(factory) }
    @Test func revokedDevicesAreReadByWhen() throws { try DomainTests().revokedDevicesAreReadByWhen(factory) }
    @Test func aMemberWhoJoinedLaterIsNoReaderOfWhatCameBefore() throws { try DomainTests().aMemberWhoJoinedLaterIsNoReaderOfWhatCameBefore(factory) }
    @Test func pruningTheInboxPastALeaveForgetsTheStay() throws { try DomainTests().pruningTheInboxPastALeaveForgetsTheStay(factory) }
}

@Suite(.enabled(if: postgresConfigured, noPostgres), .timeLimit(.minutes(2)))
struct PostgresSetReadTests {
    let factory = PostgresStoreFactory()
    @Test func aPullPageCostsTheSameWhateverItCarries() throws { try SetReadTests().aPullPageCostsTheSameWhateverItCarries(factory) }
    @Test func aCatchUpPageCostsTheSameWhateverItCarries() throws { try SetReadTests().aCatchUpPageCostsTheSameWhateverItCarries(factory) }
    @Test func aConversationPageCostsTheSameWhateverItCarries() throws { try SetReadTests().aConversationPageCostsTheSameWhateverItCarries(factory) }
    @Test func aHistoryPageCostsTheSameWhateverItCarries() throws { try SetReadTests().aHistoryPageCostsTheSameWhateverItCarries(factory) }
    @Test func onlyMembersWhoseInboxDidNotMove() throws { try MembersAtInboxHeadTests().onlyMembersWhoseInboxDidNotMove(factory) }
    @Test func theMessagesAtTheNewsPositionsAsAPullShowsThem() throws { try RemoteEventsTests().theMessagesAtTheNewsPositionsAsAPullShowsThem(factory) }
    @Test func pagesCutByBytesContinueExactly() throws { try SetReadTests().pagesCutByBytesContinueExactly(factory) }
    @Test func prunedMessagesLeaveShortPagesThatContinueExactly() throws { try SetReadTests().prunedMessagesLeaveShortPagesThatContinueExactly(factory) }
}
